"""Stand-in for Slicer's Sample Data module (Modules/Scripted/SampleData/SampleData.py): registering sources.

Why a stand-in: Sample Data is a scripted module with a Qt panel, not in the slicer-core wheel.

Only ``SampleDataSource`` and ``SampleDataLogic.registerCustomSampleDataSource`` exist; sources are kept
in ``slicer.modules.sampleDataSources`` by category, as in Slicer. Nothing is downloaded: a test
presses a sample's button by calling ``source.customDownloader(source)`` as Slicer's widget does.
"""

import slicer
from slicer._mirror import mirrors


@mirrors("Modules/Scripted/SampleData/SampleData.py: class SampleDataSource")
class SampleDataSource:
    @mirrors(
        "Modules/Scripted/SampleData/SampleData.py: SampleDataSource.__init__(self, sampleName=None, sampleDescription=None, uris=None, "
        "fileNames=None, nodeNames=None, checksums=None, loadFiles=None, customDownloader=None, thumbnailFileName=None, "
        "loadFileTypes=None, loadFileProperties=None, loadFileType=None)"
    )
    def __init__(self, sampleName=None, sampleDescription=None, uris=None, fileNames=None, nodeNames=None, checksums=None,
                 loadFiles=None, customDownloader=None, thumbnailFileName=None, loadFileTypes=None, loadFileProperties=None,
                 loadFileType=None):
        def listOf(value):
            return value if isinstance(value, list) else [value]

        self.sampleName = sampleName
        self.sampleDescription = sampleDescription or sampleName
        self.uris = listOf(uris)
        self.fileNames = listOf(fileNames)
        self.nodeNames = listOf(nodeNames)
        self.checksums = listOf(checksums)
        self.loadFiles = loadFiles
        self.customDownloader = customDownloader
        self.thumbnailFileName = thumbnailFileName
        self.loadFileTypes = loadFileTypes or loadFileType
        self.loadFileProperties = loadFileProperties or {}


@mirrors("Modules/Scripted/SampleData/SampleData.py: class SampleDataLogic")
class SampleDataLogic:
    @staticmethod
    @mirrors(
        "Modules/Scripted/SampleData/SampleData.py: SampleDataLogic.registerCustomSampleDataSource(category='Custom', sampleName=None, "
        "uris=None, fileNames=None, nodeNames=None, customDownloader=None, thumbnailFileName=None, loadFileTypes=None, loadFiles=None, "
        "loadFileProperties={}, checksums=None, loadFileType=None)"
    )
    def registerCustomSampleDataSource(category="Custom", sampleName=None, uris=None, fileNames=None, nodeNames=None,
                                       customDownloader=None, thumbnailFileName=None, loadFileTypes=None, loadFiles=None,
                                       loadFileProperties={}, checksums=None, loadFileType=None):  # noqa: B006 - Slicer's signature
        if not hasattr(slicer.modules, "sampleDataSources"):
            slicer.modules.sampleDataSources = {}
        source = SampleDataSource(sampleName=sampleName, uris=uris, fileNames=fileNames, nodeNames=nodeNames, checksums=checksums,
                                  loadFiles=loadFiles, customDownloader=customDownloader, thumbnailFileName=thumbnailFileName,
                                  loadFileTypes=loadFileTypes, loadFileProperties=loadFileProperties, loadFileType=loadFileType)
        slicer.modules.sampleDataSources.setdefault(category, []).append(source)
