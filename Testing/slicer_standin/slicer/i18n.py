"""Stand-in for ``slicer.i18n`` (Base/Python/slicer/i18n.py): ``translate`` and ``tr``.

Why a stand-in: Slicer's i18n.py is not in the slicer-core wheel (translations live in the Qt application).

Both look the text up through ``slicer.app.translate`` (the stand-in's table, ``slicer.app._translations``,
is empty unless a test fills it, as Slicer without a language pack). ``tr`` names its context after the
calling file as Slicer does: ``<package>.<file>`` inside a package (a folder with ``__init__.py``), else
``<file>``; the placeholder check of Slicer's ``tr`` is kept.
"""

import os
import re
import sys

from ._mirror import mirrors


@mirrors("Base/Python/slicer/i18n.py: def translate(context, text)")
def translate(context, text):
    from slicer import app

    return app.translate(context, text)


@mirrors("Base/Python/slicer/i18n.py: def getContext(sourceFile)")
def getContext(sourceFile):
    name = os.path.splitext(os.path.basename(sourceFile))[0]
    folder = os.path.dirname(sourceFile)
    if os.path.isfile(sourceFile) and os.path.isfile(os.path.join(folder, "__init__.py")):
        return f"{os.path.basename(folder)}.{name}"
    return name


@mirrors("Base/Python/slicer/i18n.py: def tr(text)")
def tr(text):
    caller = sys._getframe(1).f_code.co_filename
    context = getContext(caller)
    translated = translate(context, text)
    placeholders = re.compile(r"(?<!\{)\{([^\{\}]+)\}(?!\})")
    if set(placeholders.findall(text)) != set(placeholders.findall(translated)):
        return text
    return translated
