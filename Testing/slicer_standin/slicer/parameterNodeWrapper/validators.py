"""Validators of the parameterNodeWrapper stand-in (Base/Python/slicer/parameterNodeWrapper/validators.py)."""

import abc

from .._mirror import mirrors

_V = "Base/Python/slicer/parameterNodeWrapper/validators.py: "


@mirrors(_V + "class Validator(abc.ABC)")
class Validator(abc.ABC):
    @abc.abstractmethod
    @mirrors(_V + "Validator.validate(self, value)")
    def validate(self, value):
        raise NotImplementedError("validate is not implemented")


def extractValidators(annotations):
    """Given a list of annotations, separates the annotations that are Validators from the ones that are not."""

    def isValidator(x):
        return isinstance(x, Validator) or (isinstance(x, type) and issubclass(x, Validator))

    return [x for x in annotations if isValidator(x)], [x for x in annotations if not isValidator(x)]


@mirrors(_V + "class NotNone(Validator)")
class NotNone(Validator):
    @mirrors(_V + "NotNone.validate(self, value)")
    def validate(self, value):
        if value is None:
            raise ValueError("Value must not be None")


@mirrors(_V + "class IsInstance(Validator)")
class IsInstance(Validator):
    @mirrors(_V + "IsInstance.__init__(self, classtype)")
    def __init__(self, classtype):
        self.classtype = classtype

    @mirrors(_V + "IsInstance.validate(self, value)")
    def validate(self, value):
        if value is not None and not isinstance(value, self.classtype):
            raise TypeError(f"Value must be of type '{self.classtype}', is type '{type(value)}' value '{value}'")


@mirrors(_V + "class WithinRange(Validator)")
class WithinRange(Validator):
    @mirrors(_V + "WithinRange.__init__(self, minimum, maximum)")
    def __init__(self, minimum, maximum):
        self.minimum = minimum
        self.maximum = maximum

    @mirrors(_V + "WithinRange.validate(self, value)")
    def validate(self, value):
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"Value must be within range [{self.minimum}, {self.maximum}], is {value}")


@mirrors(_V + "class Minimum(Validator)")
class Minimum(Validator):
    @mirrors(_V + "Minimum.__init__(self, minimum)")
    def __init__(self, minimum):
        self.minimum = minimum

    @mirrors(_V + "Minimum.validate(self, value)")
    def validate(self, value):
        if value < self.minimum:
            raise ValueError(f"Value must be greater than {self.minimum}, is {value}")


@mirrors(_V + "class Maximum(Validator)")
class Maximum(Validator):
    @mirrors(_V + "Maximum.__init__(self, maximum)")
    def __init__(self, maximum):
        self.maximum = maximum

    @mirrors(_V + "Maximum.validate(self, value)")
    def validate(self, value):
        if value > self.maximum:
            raise ValueError(f"Value must be greater than {self.maximum}, is {value}")


@mirrors(_V + "class Choice(Validator)")
class Choice(Validator):
    @mirrors(_V + "Choice.__init__(self, choices)")
    def __init__(self, choices):
        self.choices = choices

    @mirrors(_V + "Choice.validate(self, value)")
    def validate(self, value):
        if value not in self.choices:
            raise ValueError(f"Value is {value}, but must be in one of the following: {self.choices}")


@mirrors(_V + "class Exclude(Validator)")
class Exclude(Validator):
    @mirrors(_V + "Exclude.__init__(self, excludedValues)")
    def __init__(self, excludedValues):
        self.excludedValues = excludedValues

    @mirrors(_V + "Exclude.validate(self, value)")
    def validate(self, value):
        if value in self.excludedValues:
            raise ValueError(f"Value is {value}, but must not be an excluded value: excluded values {self.excludedValues}")
