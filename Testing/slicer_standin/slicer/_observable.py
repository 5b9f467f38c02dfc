"""VTK observers for the stand-in's scene and parameter node (vtkObject's AddObserver and friends).

Not part of Slicer's API (private module). As in VTK's Python wrapping, ``AddObserver(event,
callable, priority=0.0)`` returns a tag, the event may be given as its number or its name,
and the callable is called as ``callback(caller, eventName)``; higher priorities run first.
"""

from ._mirror import mirrors

#: vtkCommand event numbers the stand-in uses (vtkCommand.h: ModifiedEvent is 33).
MODIFIED_EVENT = 33
_EVENT_NAMES = {MODIFIED_EVENT: "ModifiedEvent"}


def _eventId(event):
    if isinstance(event, str):
        for number, name in _EVENT_NAMES.items():
            if name == event:
                return number
        raise ValueError(f"unknown event '{event}' in the stand-in")
    return int(event)


class _Observable:
    """Mixin: vtkObject observers (the state is created on first use, so no __init__ is needed)."""

    def _observers(self):
        if "_observerList" not in self.__dict__:
            self._observerList = []  # [tag, event id, callback, priority]
            self._nextObserverTag = 1
        return self._observerList

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h (vtkObject base): unsigned long AddObserver(unsigned long event, vtkCommand*, float priority=0.0f)")
    def AddObserver(self, event, callback, priority=0.0):
        observers = self._observers()
        tag = self._nextObserverTag
        self._nextObserverTag += 1
        observers.append([tag, _eventId(event), callback, float(priority)])
        return tag

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h (vtkObject base): void RemoveObserver(unsigned long tag)")
    def RemoveObserver(self, tag):
        self._observerList = [o for o in self._observers() if o[0] != tag]

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h (vtkObject base): vtkTypeBool HasObserver(unsigned long event)")
    def HasObserver(self, event):
        return int(any(o[1] == _eventId(event) for o in self._observers()))

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h (vtkObject base): int InvokeEvent(unsigned long event, void* callData = nullptr)")
    def InvokeEvent(self, event, callData=None):
        event = _eventId(event)
        name = _EVENT_NAMES.get(event, "UserEvent" if event >= 1000 else str(event))
        observers = sorted((o for o in self._observers() if o[1] == event), key=lambda o: -o[3])
        for tag, _event, callback, _priority in observers:
            if any(o[0] == tag for o in self._observers()):  # not removed by an earlier observer
                callback(self, name)
        return 0
