"""Stand-in for ``slicer.ScriptedLoadableModule`` (Base/Python/slicer/ScriptedLoadableModule.py,
checked against commit 044f457).

Why a stand-in: Slicer's file imports ``qt``/``ctk`` (PythonQt) and is not in the slicer-core wheel.

The module, widget, logic and test base classes behave as in Slicer, on the stand-in's
``qt`` widgets and Slicer's scene (no developer section, no module manager; see each class).
"""

import importlib
import logging
import os
import unittest

import qt
import slicer

from ._mirror import mirrors as _mirrors

__all__ = ["ScriptedLoadableModule", "ScriptedLoadableModuleWidget", "ScriptedLoadableModuleLogic", "ScriptedLoadableModuleTest"]


@_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: class ScriptedLoadableModule")
class ScriptedLoadableModule:
    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModule.__init__(self, parent)")
    def __init__(self, parent):
        super().__init__()
        self.parent = parent
        self.moduleName = self.__class__.__name__

        parent.title = ""
        parent.categories = []
        parent.dependencies = []
        parent.contributors = ["Andras Lasso (PerkLab, Queen's University), Steve Pieper (Isomics)"]
        parent.helpText = "This module was created from a template and the help section has not yet been updated."
        parent.acknowledgementText = "This work is supported by NA-MIC, NAC, BIRN, NCIGT, and the Slicer Community."

        # Set module icon from Resources/Icons/<ModuleName>.png
        moduleDir = os.path.dirname(self.parent.path)
        for iconExtension in [".svg", ".png"]:
            iconPath = os.path.join(moduleDir, "Resources/Icons", self.moduleName + iconExtension)
            if os.path.isfile(iconPath):
                parent.icon = qt.QIcon(iconPath)
                break

        # Slicer: try: slicer.selfTests / except AttributeError: slicer.selfTests = {}
        if not hasattr(slicer, "selfTests"):
            slicer.selfTests = {}
        slicer.selfTests[self.moduleName] = self.runTest

    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModule.resourcePath(self, filename)")
    def resourcePath(self, filename):
        scriptedModulesPath = os.path.dirname(self.parent.path)
        return os.path.join(scriptedModulesPath, "Resources", filename)

    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModule.runTest(self, msec=100, **kwargs)")
    def runTest(self, msec=100, **kwargs):
        module = importlib.import_module(self.__module__)
        className = self.moduleName + "Test"
        try:
            TestCaseClass = getattr(module, className)
        except AttributeError:
            raise AssertionError(f"Test case class not found: {self.__module__}.{className} ") from None

        testCase = TestCaseClass()
        testCase.messageDelay = msec
        testCase.runTest(**kwargs)


@_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: class ScriptedLoadableModuleWidget")
class ScriptedLoadableModuleWidget:
    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleWidget.__init__(self, parent=None)")
    def __init__(self, parent=None):
        super().__init__()
        # Get module name by stripping 'Widget' from the class name
        self.moduleName = self.__class__.__name__
        if self.moduleName.endswith("Widget"):
            self.moduleName = self.moduleName[:-6]
        # Slicer reads the Developer/DeveloperMode setting; the stand-in has no settings (as if unset).
        self.developerMode = False
        if not parent:
            self.parent = slicer.qMRMLWidget()
            self.parent.setLayout(qt.QVBoxLayout())
            self.parent.setMRMLScene(slicer.mrmlScene)
        else:
            self.parent = parent
        self.layout = self.parent.layout()
        if not parent:
            self.setup()
            self.parent.show()
        # Slicer also connects moduleAboutToBeUnloaded(QString) of slicer.app.moduleManager() to
        # cleanup(); the stand-in has no module manager (tests call cleanup() themselves).

    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleWidget.resourcePath(self, filename)")
    def resourcePath(self, filename):
        scriptedModulesPath = os.path.dirname(slicer.util.modulePath(self.moduleName))
        return os.path.join(scriptedModulesPath, "Resources", filename)

    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleWidget.cleanup(self)")
    def cleanup(self):
        pass

    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleWidget.onReload(self)")
    def onReload(self):
        # Slicer first prints a separator naming the module.
        slicer.util.reloadScriptedModule(self.moduleName)

    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleWidget.setup(self)")
    def setup(self):
        # Slicer: self.setupDeveloperSection(), which does nothing without developer mode (off here).
        pass


@_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: class ScriptedLoadableModuleLogic")
class ScriptedLoadableModuleLogic:
    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleLogic.__init__(self, parent=None)")
    def __init__(self, parent=None):
        super().__init__()
        self.moduleName = self.__class__.__name__
        if self.moduleName.endswith("Logic"):
            self.moduleName = self.moduleName[:-5]
        self.isSingletonParameterNode = True

    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleLogic.getParameterNode(self)")
    def getParameterNode(self):
        if self.isSingletonParameterNode:
            parameterNode = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if parameterNode:
                # After close scene, ModuleName attribute may be removed, restore it now
                if parameterNode.GetAttribute("ModuleName") != self.moduleName:
                    parameterNode.SetAttribute("ModuleName", self.moduleName)
                return parameterNode
        else:
            numberOfScriptedModuleNodes = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode")
            for nodeIndex in range(numberOfScriptedModuleNodes):
                parameterNode = slicer.mrmlScene.GetNthNodeByClass(nodeIndex, "vtkMRMLScriptedModuleNode")
                if parameterNode.GetAttribute("ModuleName") == self.moduleName:
                    return parameterNode
        # no parameter node was found for this module, therefore we add a new one now
        parameterNode = slicer.mrmlScene.AddNode(self.createParameterNode())
        return parameterNode

    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleLogic.createParameterNode(self)")
    def createParameterNode(self):
        if slicer.mrmlScene is None:
            return
        node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
        # Slicer calls node.UnRegister(None) here (VTK reference counting; nothing to do in Python).
        if self.isSingletonParameterNode:
            node.SetSingletonTag(self.moduleName)
        node.SetAttribute("ModuleName", self.moduleName)
        node.SetName(slicer.mrmlScene.GenerateUniqueName(self.moduleName))
        return node


@_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: class ScriptedLoadableModuleTest(unittest.TestCase)")
class ScriptedLoadableModuleTest(unittest.TestCase):
    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleTest.__init__(self, *args, **kwargs)")
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        super(unittest.TestCase, self).__init__()
        self.enableScreenshots = False
        self.screenshotScaleFactor = 1.0

    @_mirrors(
        "Base/Python/slicer/ScriptedLoadableModule.py: "
        "ScriptedLoadableModuleTest.delayDisplay(self, message, requestedDelay=None, msec=None)"
    )
    def delayDisplay(self, message, requestedDelay=None, msec=None):
        if hasattr(self, "messageDelay"):
            msec = self.messageDelay
        if msec is None:
            msec = requestedDelay
        if msec is None:
            msec = 100
        slicer.util.delayDisplay(message, msec)

    @_mirrors("Base/Python/slicer/ScriptedLoadableModule.py: ScriptedLoadableModuleTest.runTest(self)")
    def runTest(self):
        logging.warning("No test is defined in " + self.__class__.__name__)
