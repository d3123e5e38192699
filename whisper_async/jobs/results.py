"""A job's result object, in whatever format it was requested, as the format the user wants.

wasync's own requests always ask the server for JSON, which converts to every format. A result
requested otherwise (e.g. `--custom-attributes format=srt` with the AWS CLI) is handed back as
it is, and converted only when it can be: srt, vtt and tsv carry timings, so they convert to
each other, to txt and to JSON; plain text converts to nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import formats
from ..digits import human_size, whole_number
from ..errors import WasyncError
from ..storage import S3Uri
from ..untrusted import parsed_json
from .destinations import Destination, write_transcript
from .outcomes import JobOutcome

CONTENT_TYPE_FORMATS = {
    "application/json": "json",
    "text/plain": "txt",
    "application/x-subrip": "srt",
    "text/vtt": "vtt",
    "text/tab-separated-values": "tsv",
}
_TIMING = re.compile(
    r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})\s*-->\s*(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})",
    re.ASCII,
)


# Over any transcript the server writes (about 150 hours of speech with word timings): parsing
# costs about 13x its size in memory, and a forged 93 MB result took 1.26 GB.
MAX_RESULT_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class Rendered:
    text: str
    format: str  # the format of `text`
    note: str | None = None  # set when the result could not be converted as asked


def failure_message(body: bytes) -> str:
    """One line from a failure object: the server's JSON message, else the text itself."""
    text = body.decode("utf-8", "replace").strip()
    start, end = text.find("{"), text.rfind("}") + 1
    # SageMaker wraps the container's body: 'Received client error (415) from primary with
    # message "{...}"', sometimes with the quotes escaped.
    for candidate in (text[start:end], text[start:end].replace('\\"', '"')) if start >= 0 else ():
        data = parsed_json(candidate)
        if isinstance(data, dict) and data.get("message"):
            # one line: a forged message's newline printed a line of its own ("FAKE: ok")
            return " ".join(str(data["message"]).split())
    return " ".join(text.split()) or "the job failed without a message"


def native_format(text: str, content_type: str | None) -> str:
    """What a result object holds: by its Content-Type, else by its first line."""
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in CONTENT_TYPE_FORMATS and declared != "application/octet-stream":
        return CONTENT_TYPE_FORMATS[declared]
    head = text.lstrip()
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith("start\tend\ttext"):
        return "tsv"
    if _TIMING.search(head.split("\n\n", 1)[0]):
        return "srt"
    return "txt"


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def parse_cues(text: str, fmt: str) -> list[dict[str, Any]] | None:
    """Segments from srt, vtt or tsv; None for formats without timings."""
    segments: list[dict[str, Any]] = []
    if fmt == "tsv":
        for line in text.splitlines()[1:]:
            start, end, cue = [*line.split("\t", 2), "", ""][:3]
            start_ms, end_ms = whole_number(start), whole_number(end)
            if start_ms is not None and end_ms is not None:
                segments.append({"start": start_ms / 1000, "end": end_ms / 1000, "text": cue})
    elif fmt in {"srt", "vtt"}:
        for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
            lines = block.strip().split("\n")
            for index, line in enumerate(lines):
                match = _TIMING.search(line)
                if match:
                    g = match.groups()
                    cue = "\n".join(lines[index + 1 :]).strip()
                    segments.append(
                        {"start": _seconds(*g[:4]), "end": _seconds(*g[4:]), "text": " " + cue}
                    )
                    break
    else:
        return None
    for index, segment in enumerate(segments):
        segment["id"] = index
    return segments


class MalformedResultError(WasyncError):
    """A result that is not what the server writes: JSON with other segments, or too large."""


class ForeignResultError(WasyncError):
    """The result states other audio than the job's: another request wrote under its key."""


def check_audio(document: dict[str, Any], audio_sha256: str | None) -> None:
    """Whoever may invoke the endpoint can name any job's result key (S3OutputPathExtension
    and Filename), and an attack trial overwrote a finished transcript so. The server states
    the hash of the audio it heard; a result without one (an older server) is taken as it is."""
    heard = document.get("audio_sha256")
    if audio_sha256 and isinstance(heard, str) and heard != audio_sha256:
        raise ForeignResultError(
            f"the result is the transcript of other audio (sha256 {heard[:12]}, where this "
            f"job's is {audio_sha256[:12]}): another request was written under this job's key",
            "send the file again with `wasync transcribe FILE --rerun`, and check who may "
            "invoke the endpoint",
        )


def render(
    body: bytes,
    content_type: str | None,
    wanted: str | None,
    json_default: str = "txt",
    audio_sha256: str | None = None,
) -> Rendered:
    """The result as `wanted`; when nothing is asked, a JSON result as `json_default` (the
    job's format) and any other result as it is. ForeignResultError when it states audio
    other than `audio_sha256`."""
    text = body.decode("utf-8", "replace")
    document = parsed_json(text)
    if isinstance(document, dict) and isinstance(document.get("segments"), list):
        check_audio(document, audio_sha256)
        fmt = wanted or json_default
        try:
            return Rendered(formats.render(document, fmt), fmt)
        except (TypeError, AttributeError, KeyError, ValueError, OverflowError) as exc:
            raise MalformedResultError(
                f"the result is JSON but not a transcript wasync's server writes ({exc})",
                "fetch it as it is with `-f json`, and check who may write to the bucket",
            ) from None
    native = native_format(text, content_type)
    if wanted is None or wanted == native:
        return Rendered(text, native)
    segments = parse_cues(text, native)
    if segments is None:
        return Rendered(
            text,
            native,
            f"the result is {native} and cannot be converted to {wanted}; it is given as it is",
        )
    document = {"text": "".join(s["text"] for s in segments).strip(), "segments": segments}
    return Rendered(formats.render(document, wanted), wanted)


def result_body(response: dict[str, Any], uri: S3Uri) -> bytes:
    """A result or failure object's bytes, refused past MAX_RESULT_BYTES before they are all
    read: an object that streams without end would otherwise be read until memory ran out."""
    body: bytes = response["Body"].read(MAX_RESULT_BYTES + 1)
    if len(body) > MAX_RESULT_BYTES:
        raise MalformedResultError(
            f"{uri} is over {human_size(MAX_RESULT_BYTES)}, larger than any transcript "
            "wasync's server writes",
            "download it with `aws s3 cp` if you trust it, and check who may write to the bucket",
        )
    return body


def read_result(
    s3: Any, uri: S3Uri, failed: bool, fmt: str, audio_sha256: str | None = None
) -> Rendered | str:
    """A finished job's result as `fmt`, or (for a failed job) its failure's message."""
    response = s3.get_object(Bucket=uri.bucket, Key=uri.key)
    body = result_body(response, uri)
    if failed:
        return failure_message(body)
    return render(body, response.get("ContentType"), fmt, audio_sha256=audio_sha256)


def deliver(
    job_id: str, source: str, destination: Destination | None, result: Rendered, overwrite: bool
) -> JobOutcome:
    """Write one input's transcript (or hand it over for stdout when `destination` is None)."""
    if destination is None:
        return JobOutcome(job_id, source, "done", output="-", text=result.text, note=result.note)
    try:
        written = write_transcript(destination, result.text, overwrite)
    except FileExistsError as exc:
        return JobOutcome(job_id, source, "failed", error=str(exc))
    except OSError as exc:  # a full disk, a read-only folder, a folder where the file goes
        return JobOutcome(
            job_id,
            source,
            "failed",
            error=f"could not write {destination.path}: {exc.strerror or exc}; the transcript is kept: "
            f"`wasync fetch {job_id} -o FILE`",
        )
    note = result.note or ("unchanged" if written == "unchanged" else None)
    return JobOutcome(job_id, source, "done", output=str(destination.path), note=note)
