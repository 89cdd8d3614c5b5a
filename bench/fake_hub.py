"""A Hugging Face Hub stand-in on loopback (`HF_ENDPOINT`), for offline tests of `--model`.

It serves the few routes huggingface_hub's `model_info` and `hf_hub_download` use: a
repo's file list, and each file's metadata (HEAD: commit, LFS SHA-256, size) and bytes
(GET, with Range for resumed downloads). A repo may be private (needs a bearer token) and
the Hub may be made to publish a wrong hash, to see that the download is refused.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeRepo:
    files: dict[str, Path]
    token: str | None = None
    """Bearer token the repo needs (a private repo); None: public."""
    wrong_hash: bool = False
    """Publish a SHA-256 that the bytes do not have."""
    hashes: dict[str, str] = field(default_factory=dict)

    def sha256(self, name: str) -> str:
        if name not in self.hashes:
            self.hashes[name] = hashlib.sha256(self.files[name].read_bytes()).hexdigest()
        return "0" * 64 if self.wrong_hash else self.hashes[name]


class FakeHub:
    def __init__(self, repos: dict[str, FakeRepo]):
        self.repos = repos
        self.requests: Counter[str] = Counter()
        self.app = Starlette(
            routes=[
                Route("/api/models/{org}/{name}", self._info),
                Route("/api/models/{org}/{name}/revision/{revision}", self._info),
                Route(
                    "/{org}/{name}/resolve/{revision}/{filename:path}",
                    self._file,
                    methods=["GET", "HEAD"],
                ),
            ]
        )

    def _repo(self, request: Request) -> FakeRepo | Response:
        repo = self.repos.get(f"{request.path_params['org']}/{request.path_params['name']}")
        sent = request.headers.get("authorization", "")
        if repo is None or (repo.token is not None and sent != f"Bearer {repo.token}"):
            # What the Hub answers for a repo that does not exist or that you may not see.
            return JSONResponse(
                {"error": "Repository not found"},
                status_code=401,
                headers={"X-Error-Code": "RepoNotFound"},
            )
        return repo

    async def _info(self, request: Request) -> Response:
        self.requests["info"] += 1
        repo = self._repo(request)
        if isinstance(repo, Response):
            return repo
        repo_id = f"{request.path_params['org']}/{request.path_params['name']}"
        siblings = [{"rfilename": name} for name in repo.files]
        return JSONResponse({"id": repo_id, "sha": COMMIT, "siblings": siblings})

    async def _file(self, request: Request) -> Response:
        self.requests[request.method] += 1
        repo = self._repo(request)
        if isinstance(repo, Response):
            return repo
        name = request.path_params["filename"]
        if name not in repo.files:
            return JSONResponse(
                {"error": "Entry not found"},
                status_code=404,
                headers={"X-Error-Code": "EntryNotFound"},
            )
        path = repo.files[name]
        headers = {
            "X-Repo-Commit": COMMIT,
            "X-Linked-Etag": f'"{repo.sha256(name)}"',
            "X-Linked-Size": str(path.stat().st_size),
            "ETag": f'"{repo.sha256(name)}"',
        }
        if request.method == "HEAD":
            headers["Content-Length"] = str(path.stat().st_size)
            return Response(headers=headers)
        return FileResponse(path, headers=headers)
