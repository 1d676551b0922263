"""Bounded JSON request bodies, shared by the batch API and the media-server sink.

`json.loads` recurses once per level of nesting, so a 10 KB body of `[[[[…`
ends in a RecursionError (a 500) long before any size limit applies. The
nesting depth is therefore measured first, without recursion and in time
linear in the body, and a body nested deeper than MAX_DEPTH is refused like
any other malformed body. `NaN` and `Infinity`, which Python's parser takes
but JSON does not have, are refused too.

Size limits stay the views' own (413 before the body is parsed).
"""
import json
import re

# A batch item or a media-server event is an object in an array (depth 2);
# nothing a device or a server sends legitimately comes near this.
MAX_DEPTH = 32

_ESCAPE = re.compile(r"\\.", re.S)
_STRING = re.compile(r'"[^"]*"')
_BRACKET = re.compile(r"[\[\]{}]")


class BodyError(ValueError):
    """The body is not acceptable JSON; `str(exc)` says why (a 400)."""


def nesting_depth_exceeds(text, limit=MAX_DEPTH):
    """True when `text` opens more than `limit` arrays/objects at once.

    Linear and recursion-free: escapes and then strings are blanked out (two
    regular-expression passes that cannot backtrack), and the brackets left
    are counted, stopping at the first one past the limit or the first
    closing bracket without an opening one (malformed: the parser says so).
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    bare = _STRING.sub("", _ESCAPE.sub("", text))
    depth = 0
    for match in _BRACKET.finditer(bare):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
            if depth < 0:
                return False
    return False


# Every byte but the quotes, brackets and backslashes of JSON's structure.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\\')
_OPENING = frozenset(b"[{")


def _utf8_nesting_depth_exceeds(raw, limit):
    """nesting_depth_exceeds() of a UTF-8 body, from its bytes; None where that must decide.

    A batch of 50 items has 51 brackets, so every batch needs the exact
    count, and the regular-expression passes over the text cost as much as
    the parse itself. Over the bytes it is two cheap passes: in UTF-8 each
    byte of a non-ASCII character is >= 0x80, so deleting every other byte
    leaves the text's quotes, brackets and backslashes in their order. With
    no backslash, and no bracket inside a string (then each string's two
    quotes are left side by side), dropping the "" pairs leaves exactly the
    brackets nesting_depth_exceeds() counts, in its order. Any other body
    goes through nesting_depth_exceeds().
    """
    skeleton = raw.translate(None, _NOT_STRUCTURE)
    if skeleton.count(b"[") + skeleton.count(b"{") <= limit:
        return False
    if b"\\" in skeleton:
        return None
    brackets = skeleton.replace(b'""', b"")
    if b'"' in brackets:
        return None
    depth = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
            if depth < 0:
                return False
    return False


def _no_constants(name):
    raise ValueError(f"{name} is not valid JSON")


def parse(raw, max_depth=MAX_DEPTH):
    """Parse a request body (bytes or str); raise BodyError saying what is wrong."""
    too_deep = None
    if isinstance(raw, (bytes, bytearray)):
        try:
            encoding = json.detect_encoding(raw)
            text = bytes(raw).decode(encoding, "surrogatepass")
        except (UnicodeDecodeError, LookupError) as exc:
            raise BodyError(f"malformed JSON: {exc}") from None
        if encoding in ("utf-8", "utf-8-sig"):  # nearly every body
            too_deep = _utf8_nesting_depth_exceeds(raw, max_depth)
    else:
        text = raw
    if too_deep is None:
        too_deep = nesting_depth_exceeds(text, max_depth)
    if too_deep:
        raise BodyError(f"malformed JSON: nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:  # not reached within MAX_DEPTH; kept as a last guard
        raise BodyError(f"malformed JSON: nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
        raise BodyError(f"malformed JSON: {exc}") from None


class BodyTooLarge(BodyError):
    """The body is over the view's byte limit (a 413)."""


def read(request, max_bytes):
    """The request's JSON body, parsed; BodyTooLarge before reading an announced
    oversize body (or after reading an unannounced one), BodyError if malformed."""
    from django.core.exceptions import RequestDataTooBig

    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes:
        raise BodyTooLarge(f"body larger than {max_bytes} bytes")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise BodyTooLarge(f"body larger than {max_bytes} bytes") from None
    if len(raw) > max_bytes:
        raise BodyTooLarge(f"body larger than {max_bytes} bytes")
    return parse(raw)
