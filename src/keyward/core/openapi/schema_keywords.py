"""The keywords of OpenAPI 2.0 and 3.0 Schema Objects, and how 2.0 spells the 3.0-only ones.

The converters decide from these what a target version can carry; the 2.0 <-> 3.0 pair must
agree on the extension spellings for a 3.0 document to survive the round trip through 2.0.
"""

# What a 2.0 non-body parameter, header or items object carries itself to describe its value,
# in the order the converters write them.
SIMPLE_SCHEMA_KEYWORDS = (
    "type",
    "format",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
)
# What a 2.0 Schema Object may contain besides `x-` extensions.
SWAGGER2_SCHEMA_KEYWORDS = frozenset(
    {
        *SIMPLE_SCHEMA_KEYWORDS,
        "$ref",
        "title",
        "description",
        "maxProperties",
        "minProperties",
        "required",
        "additionalProperties",
        "items",
        "allOf",
        "properties",
        "discriminator",
        "readOnly",
        "xml",
        "externalDocs",
        "example",
    }
)
# What a 3.0 Schema Object may contain besides `x-` extensions.
OPENAPI30_SCHEMA_KEYWORDS = SWAGGER2_SCHEMA_KEYWORDS | {
    "not",
    "oneOf",
    "anyOf",
    "nullable",
    "writeOnly",
    "deprecated",
}

# 3.0 annotations that 2.0 schemas can only carry as extensions: keyword -> extension.
SWAGGER2_ANNOTATIONS = {
    "nullable": "x-nullable",
    "writeOnly": "x-writeOnly",
    "deprecated": "x-deprecated",
}
