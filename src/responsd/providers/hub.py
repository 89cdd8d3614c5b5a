"""`responsd serve --model REPO[:FILE]`: a GGUF from the Hugging Face Hub, asked for by name.

Downloads go through huggingface_hub, so they have its progress bar, cache (`HF_HOME`),
resumption of partial files, `HF_ENDPOINT` (mirrors), `HF_TOKEN` (gated and private
repos) and offline use (`HF_HUB_OFFLINE=1`, or a Hub that cannot be reached, serves what
is cached). A freshly downloaded file is checked against the SHA-256 the Hub published
for it (its LFS object id, the blob's name in the cache) before it is used; a file that
does not match is deleted and refused. Nothing is downloaded unless a model is named.
"""

import hashlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)

PREFERRED_QUANT = "q4_k_m"
"""Picked when a repo holds several GGUFs and none is named: the usual size/quality balance."""


class ModelFetchError(Exception):
    """The named model cannot be served: the message says why and what to do."""


def fetch_model(spec: str) -> Path:
    """Local path of the GGUF named by `REPO[:FILE]`, downloading it when not cached."""
    import huggingface_hub as hub  # only for users who name a model: it is slow to import
    from huggingface_hub import errors

    repo, _, filename = spec.partition(":")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ModelFetchError(f"'{spec}' is not REPO[:FILE] (e.g. bartowski/SmolLM2-135M-GGUF).")
    try:
        filename = filename or _pick_file(repo, _repo_files(hub, repo))
        cached = hub.try_to_load_from_cache(repo, filename)
        path = Path(hub.hf_hub_download(repo, filename))
    except errors.GatedRepoError as exc:
        raise ModelFetchError(f"{repo} is gated: accept its terms, then set HF_TOKEN.") from exc
    except errors.RepositoryNotFoundError as exc:
        raise ModelFetchError(
            f"{repo} was not found on the Hub (private repos need HF_TOKEN)."
        ) from exc
    except errors.EntryNotFoundError as exc:
        raise ModelFetchError(f"{repo} has no file '{filename}'.") from exc
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled) as exc:
        raise ModelFetchError(
            f"{spec} is not in the local cache and the Hub cannot be reached: {exc}"
        ) from exc
    if not isinstance(cached, str):  # downloaded just now: check it before trusting it
        _verify(path)
    return path


def _repo_files(hub, repo: str) -> list[str]:
    import httpx2
    from huggingface_hub import errors

    try:
        return [s.rfilename for s in hub.model_info(repo).siblings or []]
    except errors.HfHubHTTPError:
        raise  # the Hub answered (not found, gated, …): fetch_model says what it means
    except (errors.OfflineModeIsEnabled, httpx2.TransportError, OSError) as exc:
        cached = _cached_files(hub, repo)
        if cached:
            return cached
        raise ModelFetchError(
            f"{repo} is not in the local cache and the Hub cannot be reached to list it: {exc}"
        ) from exc


def _cached_files(hub, repo: str) -> list[str]:
    from huggingface_hub import errors

    try:
        info = hub.scan_cache_dir()
    except errors.CacheNotFound:
        return []
    return [
        file.file_name
        for cached in info.repos
        if cached.repo_id == repo
        for revision in cached.revisions
        for file in revision.files
    ]


def _pick_file(repo: str, files: list[str]) -> str:
    ggufs = sorted({f for f in files if f.lower().endswith(".gguf")})
    if len(ggufs) == 1:
        return ggufs[0]
    preferred = [f for f in ggufs if PREFERRED_QUANT in f.lower()]
    if len(preferred) == 1:
        return preferred[0]
    if not ggufs:
        raise ModelFetchError(f"{repo} holds no .gguf file.")
    raise ModelFetchError(
        f"{repo} holds several GGUF files; name one as {repo}:FILE. Files: {', '.join(ggufs)}"
    )


def _verify(path: Path) -> None:
    blob = path.resolve()
    expected = blob.name  # the cache names an LFS blob by its SHA-256
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ModelFetchError(
            f"The Hub published no SHA-256 for {path.name} (not an LFS file), so it cannot be "
            "verified; download it yourself and use --model-path."
        )
    digest = hashlib.sha256()
    with blob.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        blob.unlink()
        path.unlink(missing_ok=True)
        raise ModelFetchError(
            f"{path.name} does not match the SHA-256 the Hub published for it "
            f"({digest.hexdigest()} != {expected}); the download was deleted."
        )
    log.info("%s verified (sha256 %s)", path.name, expected)
