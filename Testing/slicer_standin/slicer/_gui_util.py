"""The widget and dialog functions of ``slicer.util`` (Base/Python/slicer/util.py), for the stand-in's ``qt``.

Slicer's own ``slicer.util`` comes with the slicer-core wheel and is used for everything else (arrays,
nodes, matrices, segments, observations); these functions replace the ones that need PythonQt (a .ui
loader, QMessageBox, QDialog), which is not on PyPI. ``Testing/slicer_core_backend.py`` puts them on the
real ``slicer.util``. Without a main window Slicer only logs messages; here they are also recorded in
``_displayedMessages`` for tests, and confirmations answer as a user who cancels.
"""

import logging

from ._mirror import mirrors as _mirrors

#: Messages passed to the display functions, for tests to inspect (stand-in only).
_displayedMessages = []


@_mirrors("Base/Python/slicer/util.py: def errorDisplay(text, windowTitle=None, parent=None, standardButtons=None, **kwargs)")
def errorDisplay(text, windowTitle=None, parent=None, standardButtons=None, **kwargs):
    # Without a main window Slicer only logs the message.
    logging.error(text)
    _displayedMessages.append(("error", text))


@_mirrors("Base/Python/slicer/util.py: def confirmOkCancelDisplay(text, windowTitle=None, parent=None, **kwargs)")
def confirmOkCancelDisplay(text, windowTitle=None, parent=None, **kwargs):
    # Nobody can press OK in a headless test: answer as a user who cancels.
    logging.info(text)
    _displayedMessages.append(("confirmOkCancel", text))
    return False


@_mirrors("Base/Python/slicer/util.py: def delayDisplay(message, autoCloseMsec=1000)")
def delayDisplay(message, autoCloseMsec=1000):
    import slicer

    logging.info(message)
    _displayedMessages.append(("delay", message))
    slicer.app.processEvents()


@_mirrors("Base/Python/slicer/util.py: def pip_install(requirements)")
def pip_install(requirements):
    raise RuntimeError(f"pip_install({requirements!r}) is not available in the Slicer stand-in used for tests.")


@_mirrors("Base/Python/slicer/util.py: def findChildren(widget=None, name='', text='', title='', className='')")
def findChildren(widget=None, name="", text="", title="", className=""):
    import fnmatch

    if not widget:
        import slicer

        widget = slicer.util.mainWindow()
    if not widget:
        return []
    children = []
    parents = [widget]
    kwargs = {"name": name, "text": text, "title": title, "className": className}
    expected_matches = [key for key, value in kwargs.items() if value]
    while parents:
        p = parents.pop()
        if not hasattr(p, "children"):
            continue
        parents += p.children()
        matched_filter_criteria = 0
        for attribute in expected_matches:
            if hasattr(p, attribute):
                attr_name = getattr(p, attribute)
                if attribute == "className":
                    attr_name = attr_name()
                if isinstance(attr_name, str) and fnmatch.fnmatchcase(attr_name, kwargs[attribute]):
                    matched_filter_criteria += 1
        if matched_filter_criteria == len(expected_matches):
            children.append(p)
    return children


@_mirrors("Base/Python/slicer/util.py: def loadUI(path)")
def loadUI(path):
    # Slicer loads the file with qt.QUiLoader; the stand-in parses the XML (see _uiloader.py).
    import os

    from ._uiloader import loadUIFile

    if not os.path.isfile(path):
        errorMessage = "Could not load UI file: file not found " + str(path) + "\n\n"
        raise RuntimeError(errorMessage)
    widget = loadUIFile(path)
    if not widget:
        errorMessage = "Could not load UI file: " + str(path) + "\n\n"
        raise RuntimeError(errorMessage)
    return widget


@_mirrors("Base/Python/slicer/util.py: def childWidgetVariables(widget)")
def childWidgetVariables(widget):
    ui = type("", (), {})()  # empty object
    childWidgets = findChildren(widget)
    for childWidget in childWidgets:
        if hasattr(childWidget, "name"):
            setattr(ui, childWidget.name, childWidget)
    return ui


@_mirrors("Base/Python/slicer/util.py: def reloadScriptedModule(moduleName)")
def reloadScriptedModule(moduleName):
    """Re-executes the module file into a fresh ``sys.modules[moduleName]`` and builds a new widget from it.

    As in Slicer, only the module file is executed again: modules it imports stay as cached in
    ``sys.modules``. Slicer hides the old widget representation's children and empties its layout
    before making the new widget in it; the stand-in has no module manager and reuses the old
    widget's parent.
    """
    import importlib.util
    import os
    import sys

    import slicer

    widgetName = moduleName + "Widget"
    filePath = slicer.util.modulePath(moduleName)
    folder = os.path.dirname(filePath)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(moduleName, filePath)
    reloadedModule = importlib.util.module_from_spec(spec)
    sys.modules[moduleName] = reloadedModule
    spec.loader.exec_module(reloadedModule)
    oldWidget = getattr(slicer.modules, widgetName, None)
    parent = getattr(oldWidget, "parent", None)
    if oldWidget is not None:
        oldWidget.cleanup()
    widget = getattr(reloadedModule, widgetName)(parent)
    widget.setup()
    setattr(slicer.modules, widgetName, widget)
    return reloadedModule
