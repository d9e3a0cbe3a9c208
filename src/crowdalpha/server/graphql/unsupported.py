"""numerapi calls this server deliberately does not answer, refused with a clear reason.

Without this, a numerapi call the schema lacks would fail validation with GraphQL's
``Cannot query field …``, which reads like a bug. :func:`refusals` looks at the root fields
a query asks for *before* it is validated: a field the schema does not have but that is
listed in :data:`UNSUPPORTED` is answered ``not_supported: <why, and what to do instead>``.
A field the schema does have is never refused here, so a feature that lands later simply
takes over. (numerapi's on-chain ``v3_stake_*`` calls are in the schema, in
:mod:`.staking_v3`, which refuses them ``not_supported`` while chain staking is off.)
"""

from __future__ import annotations

from graphql import DocumentNode, FieldNode, GraphQLSchema, OperationDefinitionNode, OperationType

from crowdalpha.errors import NotSupportedError

__all__ = ["COMPUTE", "UNSUPPORTED", "refusals"]

COMPUTE = (
    "Numerai Compute's model uploads (numerapi's model_upload, model_upload_data_versions "
    "and model_upload_docker_images) are not supported by crowdalpha: run your model "
    "yourself and upload its predictions (napi.upload_predictions), or set a submission "
    "webhook (napi.set_submission_webhook) to be called when a round opens"
)

#: Root fields (as numerapi 3.1.1 names them) → why they are refused.
UNSUPPORTED: dict[str, str] = {
    "computePickleUploadAuth": COMPUTE,
    "createComputePickleUpload": COMPUTE,
    "computePickleDataVersions": COMPUTE,
    "computePickleDockerImages": COMPUTE,
}


def refusals(document: DocumentNode, schema: GraphQLSchema) -> list[NotSupportedError]:
    """One error per root field of ``document`` that the schema lacks and that is listed
    as deliberately unsupported (in the order asked; each field once)."""
    out: list[NotSupportedError] = []
    seen: set[str] = set()
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        root = (
            schema.mutation_type
            if definition.operation == OperationType.MUTATION
            else schema.query_type
        )
        known = root.fields if root is not None else {}
        for selection in definition.selection_set.selections:
            if not isinstance(selection, FieldNode):
                continue
            name = selection.name.value
            if name in known or name not in UNSUPPORTED or name in seen:
                continue
            seen.add(name)
            out.append(NotSupportedError(f"{name}: {UNSUPPORTED[name]}", details={"field": name}))
    return out
