"""Choose what happens to a request body: which profile encrypts it, or why it is forwarded or refused.

The rules, in order (docs/cloudfront.md says which come from CloudFront's documentation and which are ours):

1. `fle-profile` query argument, when the config has query-argument profiles: more than one value is
   malformed; a mapped value selects that profile; an unknown value is refused unless
   `ForwardWhenQueryArgProfileIsUnknown`, in which case the content type decides.
2. The media type of `Content-Type`, compared case-insensitively and without parameters. A header that
   the strict grammar of `header_params.py` does not accept (not `type/subtype`, or parameters with
   duplicates, escapes, `*` names, ...) is malformed: refused whatever the config says, forwarded or not,
   because we cannot tell what the origin will make of it (PHP, for one, cuts the media type at `;`, `,`
   or a space and finds `boundary` by a substring search anywhere in the header). A listed media type
   selects its profile (none: forwarded as is); an unlisted one is refused unless
   `ForwardWhenContentTypeIsUnknown`.
3. A profile chosen by query argument still needs a media type that the config maps to a body format; if
   the media type is unknown the request is refused even when unknown types may be forwarded, because the
   client asked for fields to be encrypted and the body cannot be parsed (stricter than CloudFront states).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from fields.header_params import HeaderParamError, parse_request_content_type
from fields.refusals import Reason

from .model import BodyFormat, FleConfig, Profile

QUERY_ARG_NAME = "fle-profile"


class Action(Enum):
    ENCRYPT = "encrypt"
    FORWARD = "forward"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one request: `reason` (a CloudFront-style reason code) when it is refused."""

    action: Action
    profile: Profile | None = None
    format: BodyFormat | None = None
    reason: Reason | None = None


FORWARD = Decision(Action.FORWARD)


def _reject(reason: Reason) -> Decision:
    return Decision(Action.REJECT, reason=reason)


def media_type_of(content_type: str) -> str | None:
    """The lower-case media type of a Content-Type value, or None when the strict grammar refuses it."""
    try:
        return parse_request_content_type(content_type).kind
    except HeaderParamError:
        return None


def select(
    config: FleConfig, content_type: str | None, query_profile: str | Sequence[str] | None
) -> Decision:
    """Decide for a request that carries a body.

    `content_type` is the raw Content-Type header (None when absent); `query_profile` is the value, or all
    the values, of the `fle-profile` query argument (None or empty when absent).
    """
    media_type = "" if content_type is None else media_type_of(content_type)
    return decide(config, media_type, query_profile)


def decide(config: FleConfig, media_type: str | None, query_profile: str | Sequence[str] | None) -> Decision:
    """`select` for a Content-Type read already (fields.facts.RequestFacts.media_type): `media_type` is the
    lower-case media type, "" when there is no Content-Type, None when the strict grammar refused it."""
    values = (query_profile,) if isinstance(query_profile, str) else tuple(query_profile or ())
    override: Profile | None = None
    if values and config.query_arg_profiles:
        if len(values) > 1:
            return _reject(Reason.MALFORMED_QUERY_ARGS)
        for mapping in config.query_arg_profiles:
            if mapping.query_arg == values[0]:
                override = mapping.profile
                break
        else:
            if not config.forward_when_query_arg_profile_is_unknown:
                return _reject(Reason.REJECTED_BY_QUERY_ARGS)

    if media_type is None:
        return _reject(Reason.MALFORMED_CONTENT_TYPE)
    for ct_mapping in config.content_type_profiles:
        if ct_mapping.content_type == media_type:
            profile = override or ct_mapping.profile
            if profile is None:
                return FORWARD
            return Decision(Action.ENCRYPT, profile=profile, format=ct_mapping.format)
    if config.forward_when_content_type_is_unknown and override is None:
        return FORWARD
    return _reject(Reason.REJECTED_BY_CONTENT_TYPE)
