"""Serializers of the parameterNodeWrapper stand-in (Base/Python/slicer/parameterNodeWrapper/serializers.py).

Same storage as Slicer: numbers and strings as ``SetParameter(name, str(value))``, bools as
"True"/"False", nodes as a node reference with role ``name`` plus ``SetParameter(name, "")``.
"""

import abc
import typing

import slicer

from .._mirror import mirrors
from .validators import IsInstance, NotNone, extractValidators

_S = "Base/Python/slicer/parameterNodeWrapper/serializers.py: "


def splitAnnotations(possiblyAnnotatedType):
    """(type, [annotations]) of ``Annotated[type, ...]``; (type, []) otherwise (util.py in Slicer)."""
    if typing.get_origin(possiblyAnnotatedType) is typing.Annotated:
        return possiblyAnnotatedType.__origin__, list(possiblyAnnotatedType.__metadata__)
    return possiblyAnnotatedType, []


def unannotatedType(possiblyAnnotatedType):
    return splitAnnotations(possiblyAnnotatedType)[0]


def findFirstAnnotation(annotations, annotationType):
    return next((a for a in annotations if isinstance(a, annotationType)), None)


@mirrors(_S + "class Serializer(abc.ABC)")
class Serializer(abc.ABC):
    @mirrors(_S + "Serializer.supportsCaching()")
    @staticmethod
    def supportsCaching():
        return False

    @abc.abstractmethod
    @mirrors(_S + "Serializer.default(self)")
    def default(self):
        raise NotImplementedError

    @abc.abstractmethod
    @mirrors(_S + "Serializer.isIn(self, parameterNode, name)")
    def isIn(self, parameterNode, name):
        raise NotImplementedError

    @abc.abstractmethod
    @mirrors(_S + "Serializer.write(self, parameterNode, name, value)")
    def write(self, parameterNode, name, value):
        raise NotImplementedError

    @abc.abstractmethod
    @mirrors(_S + "Serializer.read(self, parameterNode, name)")
    def read(self, parameterNode, name):
        raise NotImplementedError

    @abc.abstractmethod
    @mirrors(_S + "Serializer.remove(self, parameterNode, name)")
    def remove(self, parameterNode, name):
        raise NotImplementedError


@mirrors(_S + "class ValidatedSerializer(Serializer)")
class ValidatedSerializer(Serializer):
    @mirrors(_S + "ValidatedSerializer.__init__(self, serializer, validators)")
    def __init__(self, serializer, validators):
        if isinstance(serializer, ValidatedSerializer):
            self.serializer = serializer.serializer
            self.validators = serializer.validators + (validators or [])
        else:
            self.serializer = serializer
            self.validators = validators

    @mirrors(_S + "ValidatedSerializer.default(self)")
    def default(self):
        return self.serializer.default()

    @mirrors(_S + "ValidatedSerializer.isIn(self, parameterNode, name)")
    def isIn(self, parameterNode, name):
        return self.serializer.isIn(parameterNode, name)

    @mirrors(_S + "ValidatedSerializer.validate(self, value)")
    def validate(self, value):
        for validator in self.validators:
            validator.validate(value)

    @mirrors(_S + "ValidatedSerializer.write(self, parameterNode, name, value)")
    def write(self, parameterNode, name, value):
        self.validate(value)
        self.serializer.write(parameterNode, name, value)

    @mirrors(_S + "ValidatedSerializer.read(self, parameterNode, name)")
    def read(self, parameterNode, name):
        return self.serializer.read(parameterNode, name)

    @mirrors(_S + "ValidatedSerializer.remove(self, parameterNode, name)")
    def remove(self, parameterNode, name):
        self.serializer.remove(parameterNode, name)


class _ParameterSerializer(Serializer):
    """Shared isIn/remove of the serializers that store one parameter string."""

    def isIn(self, parameterNode, name):
        return parameterNode.HasParameter(name)

    def remove(self, parameterNode, name):
        parameterNode.UnsetParameter(name)


@mirrors(_S + "class NumberSerializer(Serializer)")
class NumberSerializer(_ParameterSerializer):
    @mirrors(_S + "NumberSerializer.canSerialize(type_)")
    @staticmethod
    def canSerialize(type_):
        return type_ in (int, float)

    @mirrors(_S + "NumberSerializer.create(type_)")
    @staticmethod
    def create(type_):
        if NumberSerializer.canSerialize(type_):
            return ValidatedSerializer(NumberSerializer(type_), [NotNone(), IsInstance((int, float) if type_ is float else int)])
        return None

    @mirrors(_S + "NumberSerializer.__init__(self, type)")
    def __init__(self, type):
        self.type = type

    @mirrors(_S + "NumberSerializer.default(self)")
    def default(self):
        return 0

    @mirrors(_S + "NumberSerializer.write(self, parameterNode, name, value)")
    def write(self, parameterNode, name, value):
        parameterNode.SetParameter(name, str(value))

    @mirrors(_S + "NumberSerializer.read(self, parameterNode, name)")
    def read(self, parameterNode, name):
        return self.type(parameterNode.GetParameter(name))


@mirrors(_S + "class StringSerializer(Serializer)")
class StringSerializer(_ParameterSerializer):
    @mirrors(_S + "StringSerializer.canSerialize(type_)")
    @staticmethod
    def canSerialize(type_):
        return type_ is str

    @mirrors(_S + "StringSerializer.create(type_)")
    @staticmethod
    def create(type_):
        if StringSerializer.canSerialize(type_):
            return ValidatedSerializer(StringSerializer(), [NotNone(), IsInstance(type_)])
        return None

    @mirrors(_S + "StringSerializer.default(self)")
    def default(self):
        return ""

    @mirrors(_S + "StringSerializer.write(self, parameterNode, name, value)")
    def write(self, parameterNode, name, value):
        parameterNode.SetParameter(name, str(value))

    @mirrors(_S + "StringSerializer.read(self, parameterNode, name)")
    def read(self, parameterNode, name):
        return parameterNode.GetParameter(name)


@mirrors(_S + "class BoolSerializer(Serializer)")
class BoolSerializer(_ParameterSerializer):
    @mirrors(_S + "BoolSerializer.canSerialize(type_)")
    @staticmethod
    def canSerialize(type_):
        return type_ is bool

    @mirrors(_S + "BoolSerializer.create(type_)")
    @staticmethod
    def create(type_):
        if BoolSerializer.canSerialize(type_):
            return ValidatedSerializer(BoolSerializer(), [NotNone(), IsInstance(type_)])
        return None

    @mirrors(_S + "BoolSerializer.default(self)")
    def default(self):
        return False

    @mirrors(_S + "BoolSerializer.write(self, parameterNode, name, value)")
    def write(self, parameterNode, name, value):
        parameterNode.SetParameter(name, "True" if value else "False")

    @mirrors(_S + "BoolSerializer.read(self, parameterNode, name)")
    def read(self, parameterNode, name):
        return parameterNode.GetParameter(name) == "True"


@mirrors(_S + "class NodeSerializer(Serializer)")
class NodeSerializer(Serializer):
    @mirrors(_S + "NodeSerializer.canSerialize(type_)")
    @staticmethod
    def canSerialize(type_):
        return issubclass(type_, slicer.vtkMRMLNode) if isinstance(type_, type) else False

    @mirrors(_S + "NodeSerializer.create(type_)")
    @staticmethod
    def create(type_):
        if NodeSerializer.canSerialize(type_):
            return ValidatedSerializer(NodeSerializer(), [IsInstance(type_)])
        return None

    @mirrors(_S + "NodeSerializer.default(self)")
    def default(self):
        return None

    @mirrors(_S + "NodeSerializer.isIn(self, parameterNode, name)")
    def isIn(self, parameterNode, name):
        return parameterNode.HasParameter(name)

    @mirrors(_S + "NodeSerializer.write(self, parameterNode, name, value)")
    def write(self, parameterNode, name, value):
        parameterNode.SetParameter(name, "")
        parameterNode.SetNodeReferenceID(name, value.GetID() if value is not None else None)

    @mirrors(_S + "NodeSerializer.read(self, parameterNode, name)")
    def read(self, parameterNode, name):
        return parameterNode.GetNodeReference(name)

    @mirrors(_S + "NodeSerializer.remove(self, parameterNode, name)")
    def remove(self, parameterNode, name):
        parameterNode.UnsetParameter(name)
        parameterNode.RemoveNodeReferenceIDs(name)


_registeredSerializers = [NumberSerializer, StringSerializer, BoolSerializer, NodeSerializer]


@mirrors(_S + "def createSerializer(type_, annotations)")
def createSerializer(type_, annotations):
    validators, annotations = extractValidators(annotations)
    for serializerFactory in _registeredSerializers:
        if serializerFactory.canSerialize(type_):
            return ValidatedSerializer(serializerFactory.create(type_), validators), annotations
    raise Exception(f"Unable to create serializer for type: {str(type_)}")
