"""GraphQL multipart requests (uploadDataset): parsed by Starlette's streaming parser,
with each file written as it arrives to a temporary file in the datasets folder.

Starlette's parser would spool files to memory, then to the system's temporary folder;
here they go straight to the folder they will be renamed into (an atomic os.replace
needs the same file system), and every temporary file of a request is removed when
the request ends, however it ends (refused, too large, invalid, or renamed away).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cross_web import FormData, StarletteRequestAdapter
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from strawberry.file_uploads.utils import replace_placeholders_with_files

from resolvers.upload_spool import UploadSpool
from server.transport import RequestRefused

# operations and map: the two form fields of the spec; one file (uploadDataset's).
MAX_UPLOAD_FIELDS = 2
MAX_UPLOAD_FILES = 1
# The root fields a multipart request may select: uploadDataset once (and __typename,
# harmless).
UPLOAD_FIELD = "uploadDataset"
UPLOAD_ROOT_FIELDS = frozenset({UPLOAD_FIELD, "__typename"})


class _DatasetsFolderParser(MultiPartParser):
    """Starlette's multipart parser, writing file parts to the spool's folder."""

    def __init__(self, spool: UploadSpool, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spool = spool

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        upload = self._current_part.file
        if upload is not None:
            # Starlette made an in-memory spooled file for it: use the folder's instead.
            self._files_to_close_on_error.pop().close()
            handle = self.spool.new_file()
            self._files_to_close_on_error.append(handle)  # type: ignore[arg-type]  # typed for Starlette's SpooledTemporaryFile; it only close()s them
            upload.file = handle


class UploadRequestAdapter(StarletteRequestAdapter):
    """strawberry's Starlette request adapter, whose form data comes from
    _DatasetsFolderParser with the request's spool (set by the view on request.state)."""

    async def get_form_data(self) -> FormData:
        request = self._request
        spool: UploadSpool | None = getattr(request.state, "upload_spool", None)
        if spool is None:
            raise RequestRefused(415, "multipart bodies are only accepted for uploads")
        parser = _DatasetsFolderParser(
            spool,
            request.headers,
            request.stream(),
            max_files=MAX_UPLOAD_FILES,
            max_fields=MAX_UPLOAD_FIELDS,
            max_part_size=getattr(request.state, "upload_field_max_bytes", 100_000),
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise RequestRefused(400, f"malformed multipart body: {exc.message}") from None
        return FormData(files=form, form=form)


def upload_operations(
    form: FormData,
    decode_json: Callable[[str], object],
    check: Callable[[object], None],
    *,
    max_tokens: int,
) -> dict[str, Any]:
    """The operation of a GraphQL multipart request with its file put in place, or a
    400 naming what is wrong with `operations` or `map` (never a 500). `max_tokens` is
    the schema's own limit (MAX_QUERY_TOKENS), so no document too long to be checked
    here can still be run by strawberry."""
    operations = _json_field(form.form, "operations", decode_json)
    files_map = _json_field(form.form, "map", decode_json)
    if not isinstance(operations, dict):
        raise RequestRefused(400, "'operations' must be one GraphQL request object (no batch)")
    check(operations)
    _refuse_other_operations(operations.get("query"), max_tokens)
    if not isinstance(files_map, dict) or not files_map:
        raise RequestRefused(400, "'map' must be an object naming the file's field")
    for name, paths in files_map.items():
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise RequestRefused(400, f"'map' entry {name!r} must be a list of variable paths")
        if not all(path.startswith("variables.") for path in paths):
            raise RequestRefused(400, f"'map' entry {name!r} must point into variables")
        if not isinstance(form.files.get(name), UploadFile):
            raise RequestRefused(400, f"'map' names a file field {name!r} the body does not have")
    try:
        return replace_placeholders_with_files(operations, files_map, form.files)
    except (KeyError, IndexError, TypeError, ValueError):
        raise RequestRefused(400, "'map' names a variable the operations do not have") from None


def _refuse_other_operations(query: object, max_tokens: int) -> None:
    """Multipart is accepted for one uploadDataset alone: a document that selects
    anything else at its root is refused, and so is one whose operation selects
    uploadDataset more than once (aliases), which would validate the one file again for
    each and answer all but the first with a misleading DATASET_EXISTS. (One that does
    not parse is left to strawberry, which answers it as any other request.)"""
    if not isinstance(query, str):
        raise RequestRefused(400, "'operations' must hold the uploadDataset mutation as 'query'")
    try:
        document = parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        fields = definition.selection_set.selections
        if definition.operation != OperationType.MUTATION or not all(
            isinstance(field, FieldNode) and field.name.value in UPLOAD_ROOT_FIELDS
            for field in fields
        ):
            raise RequestRefused(400, "multipart requests may only run uploadDataset")
        uploads = sum(
            1
            for field in fields
            if isinstance(field, FieldNode) and field.name.value == UPLOAD_FIELD
        )
        if uploads != 1:
            raise RequestRefused(
                400, "a multipart request runs exactly one uploadDataset field (one file)"
            )


def _json_field(form: Mapping[str, Any], name: str, decode_json: Callable[[str], object]) -> Any:
    value = form.get(name)
    if not isinstance(value, str):
        raise RequestRefused(400, f"the multipart body has no '{name}' field")
    try:
        return decode_json(value)
    except ValueError:
        raise RequestRefused(400, f"the '{name}' field is not valid JSON") from None
