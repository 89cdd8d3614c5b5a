"""The `image_generation` tool, run on an OpenAI-compatible Images API (here a scripted one
on loopback): calls, their items and events, what the model is told, the settings passed
on, a failing service; and without a service, the tool withheld as before."""

import base64
import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from agents import Agent, ImageGenerationTool, OpenAIResponsesModel, Runner, set_tracing_disabled
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.fake_upstream import Call, Reply
from bench.servers import ServerThread
from responsd.tools.image_generation import SHOWN
from tests.conftest import _responsd
from tests.wire import check_response, stream_events

set_tracing_disabled(True)  # the SDK would otherwise post traces to the hosted API

IMAGE = b"\x89PNG\r\n\x1a\n not really a png"
EDITED = b"\x89PNG\r\n\x1a\n edited"
KEY = "sk-images-secret"


class ImageService:
    """Answers every generation with IMAGE (inline, by URL, or a failure), recording the
    request bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.edits: list[tuple[dict, dict[str, bytes]]] = []
        """Each edit's form fields and uploaded files (name → bytes)."""
        self.mode = "b64"
        self.app = Starlette(
            routes=[
                Route("/v1/images/generations", self._generate, methods=["POST"]),
                Route("/v1/images/edits", self._edit, methods=["POST"]),
                Route("/files/made.png", self._file),
            ]
        )

    async def _edit(self, request: Request) -> Response:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        async with request.form() as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            files = {k: await v.read() for k, v in form.items() if not isinstance(v, str)}
        self.edits.append((fields, files))
        return JSONResponse({"data": [{"b64_json": base64.b64encode(EDITED).decode()}]})

    async def _generate(self, request: Request) -> Response:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        self.bodies.append(await request.json())
        if self.mode == "fail":
            return JSONResponse({"error": {"message": "size must be 512x512"}}, status_code=400)
        if self.mode == "url":
            return JSONResponse({"data": [{"url": f"{request.base_url}files/made.png"}]})
        made = {"b64_json": base64.b64encode(IMAGE).decode(), "revised_prompt": "a red fox"}
        return JSONResponse({"created": 1, "data": [made]})

    async def _file(self, request: Request) -> Response:
        assert "authorization" not in request.headers  # the key stays with the service's API
        return Response(IMAGE, media_type="image/png")


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[ImageService, ServerThread]]:
    images = ImageService()
    thread = ServerThread(images.app).start()
    yield images, thread
    thread.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def images_server(request, upstream_server, tmp_path_factory, service) -> Iterator[ServerThread]:
    url = f"{service[1].url}/v1"
    thread = _responsd(
        request, upstream_server, tmp_path_factory, images_url=url, images_api_key=KEY
    )
    yield thread
    thread.stop()


@pytest.fixture
def images(images_server, upstream, service) -> Iterator[httpx.Client]:
    service[0].bodies.clear()
    service[0].edits.clear()
    service[0].mode = "b64"
    with httpx.Client(base_url=f"{images_server.url}/v1", timeout=10) as c:
        yield c


def _draw_then(answer: str, edit: bool = False) -> tuple[Reply, Reply]:
    arguments = json.dumps({"prompt": "a fox in the snow", "edit": edit})
    draw = Call("image_generation", arguments, id="call_i")
    return Reply(tool_calls=[draw]), Reply(text=answer)


def test_an_image_is_made_and_the_model_is_told(images, upstream, service):
    upstream.script(*_draw_then("Here is your fox."))
    tool = {"type": "image_generation", "size": "1024x1024", "quality": "low", "model": "sd-xl"}
    body = {"model": "fake-model", "input": "draw a fox", "tools": [tool]}
    reply = images.post("/responses", json=body)
    assert reply.status_code == 200, reply.text
    assert "responsd-skipped-tools" not in reply.headers
    response = check_response(reply.json())
    assert response["tools"] == [tool]
    call, message = response["output"]
    assert call["type"] == "image_generation_call" and call["id"].startswith("ig_")
    assert call["status"] == "completed" and call["action"] == "generate"
    assert base64.b64decode(call["result"]) == IMAGE
    assert call["revised_prompt"] == "a red fox"  # the service's own rewrite
    assert call["size"] == "1024x1024" and call["quality"] == "low"
    assert message["content"][0]["text"] == "Here is your fox."
    # The service got the model's prompt and the tool's settings; the model the outcome.
    assert service[0].bodies == [
        {
            "prompt": "a fox in the snow",
            "n": 1,
            "model": "sd-xl",
            "size": "1024x1024",
            "quality": "low",
        }
    ]
    first, second = upstream.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["image_generation"]
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": call["id"], "content": SHOWN}
    assert KEY not in reply.text


def test_an_image_given_by_url_is_fetched(images, upstream, service):
    service[0].mode = "url"
    upstream.script(*_draw_then("Done."))
    body = {"model": "fake-model", "input": "x", "tools": [{"type": "image_generation"}]}
    response = check_response(images.post("/responses", json=body).json())
    call = response["output"][0]
    assert base64.b64decode(call["result"]) == IMAGE
    assert call["revised_prompt"] == "a fox in the snow"  # the model's, none came back
    assert service[0].bodies == [{"prompt": "a fox in the snow", "n": 1}]


def test_streamed_generation_events(images, upstream):
    upstream.script(*_draw_then("Done."))
    events, _ = stream_events(
        images, model="fake-model", input="x", tools=[{"type": "image_generation"}]
    )
    kinds = [e["type"] for e in events]
    start = kinds.index("response.image_generation_call.in_progress")
    assert kinds[start - 1] == "response.output_item.added"
    assert events[start - 1]["item"]["status"] == "in_progress"
    assert kinds[start : start + 4] == [
        "response.image_generation_call.in_progress",
        "response.image_generation_call.generating",
        "response.image_generation_call.completed",
        "response.output_item.done",
    ]
    assert base64.b64decode(events[start + 3]["item"]["result"]) == IMAGE


def test_a_failing_service_fails_the_call_not_the_response(images, upstream, service):
    service[0].mode = "fail"
    upstream.script(*_draw_then("I could not draw it."))
    body = {"model": "fake-model", "input": "x", "tools": [{"type": "image_generation"}]}
    response = check_response(images.post("/responses", json=body).json())
    assert response["status"] == "completed"
    call = response["output"][0]
    assert call["status"] == "failed" and call["result"] is None
    assert call["error"]["message"] == "the image service answered 400"
    told = upstream.requests[1]["messages"][-1]["content"]
    assert told == "The image could not be made: the image service answered 400."


def test_a_later_response_sees_what_was_drawn(images, upstream):
    upstream.script(*_draw_then("A fox."), Reply(text="Yes, a fox."))
    tools = [{"type": "image_generation"}]
    first = images.post("/responses", json={"model": "fake-model", "input": "x", "tools": tools})
    body = {
        "model": "fake-model",
        "input": "what did you draw?",
        "tools": tools,
        "previous_response_id": first.json()["id"],
    }
    assert images.post("/responses", json=body).status_code == 200
    messages = upstream.requests[-1]["messages"]
    call = next(m for m in messages if m.get("tool_calls"))
    assert call["tool_calls"][0]["function"]["arguments"] == '{"prompt":"a red fox"}'
    assert messages[messages.index(call) + 1]["content"] == SHOWN


def test_tool_choice_forces_an_image(images, upstream):
    upstream.script(*_draw_then("Done."))
    body = {
        "model": "fake-model",
        "input": "x",
        "tools": [{"type": "image_generation"}],
        "tool_choice": {"type": "image_generation"},
    }
    assert images.post("/responses", json=body).status_code == 200
    assert upstream.requests[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "image_generation"},
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_image_mask", {"image_url": "https://example.com/mask.png"}),
        ("partial_images", 2),
        ("input_fidelity", "high"),  # with action: generate (below), there is no edit
        ("style", "vivid"),
    ],
)
def test_what_it_cannot_honour_is_a_400(images, upstream, field, value):
    tool = {"type": "image_generation", field: value}
    if field == "input_fidelity":
        tool["action"] = "generate"
    body = {"model": "fake-model", "input": "x", "tools": [tool]}
    reply = images.post("/responses", json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == f"tools[0].{field}"
    assert upstream.requests == []


def test_without_a_service_the_tool_is_withheld(http, upstream):
    upstream.script(Reply(text="I cannot draw."))
    body = {"model": "fake-model", "input": "x", "tools": [{"type": "image_generation"}]}
    reply = http.post("/responses", json=body)
    assert reply.status_code == 200
    assert reply.headers["responsd-skipped-tools"] == "image_generation"
    assert "tools" not in upstream.requests[0]
    forced = {**body, "tool_choice": {"type": "image_generation"}}
    assert http.post("/responses", json=forced).status_code == 400


async def test_an_agents_sdk_agent_draws(images_server, upstream, service):
    """The Agents SDK's hosted `ImageGenerationTool`, run here, inside a whole agent run."""
    upstream.script(*_draw_then("Your fox is ready."))
    client = openai.AsyncOpenAI(base_url=f"{images_server.url}/v1", api_key="unused")
    agent = Agent(
        name="artist",
        model=OpenAIResponsesModel("fake-model", client),
        tools=[ImageGenerationTool(tool_config={"type": "image_generation", "quality": "low"})],
    )
    async with client:
        result = await Runner.run(agent, "Draw a fox")
    assert result.final_output == "Your fox is ready."
    [drawn] = [item.raw_item for item in result.new_items if item.type == "tool_call_item"]
    assert drawn.type == "image_generation_call"
    assert base64.b64decode(drawn.result) == IMAGE
    assert service[0].bodies[-1]["quality"] == "low"


def test_the_model_edits_the_image_it_made(images, upstream, service):
    """A later turn's edit changes the image the first made; the service gets it whole."""
    upstream.script(*_draw_then("A fox."), *_draw_then("Now in the rain.", edit=True))
    tools = [{"type": "image_generation", "input_fidelity": "high"}]
    first = images.post("/responses", json={"model": "fake-model", "input": "x", "tools": tools})
    body = {"model": "fake-model", "input": "make it rain", "tools": tools}
    second = images.post("/responses", json={**body, "previous_response_id": first.json()["id"]})
    call = check_response(second.json())["output"][0]
    assert call["action"] == "edit" and base64.b64decode(call["result"]) == EDITED
    [(fields, files)] = service[0].edits
    assert fields == {"prompt": "a fox in the snow", "n": "1", "input_fidelity": "high"}
    assert files == {"image": IMAGE}
    # The model was offered the choice, and sees the edit as one later.
    function = upstream.requests[0]["tools"][0]["function"]
    assert function["parameters"]["required"] == ["prompt", "edit"]


def test_an_edit_changes_the_users_image_with_a_mask(images, upstream, service):
    upstream.script(*_draw_then("Done.", edit=True))
    photo = "data:image/png;base64," + base64.b64encode(b"\x89PNGphoto").decode()
    mask = "data:image/png;base64," + base64.b64encode(b"\x89PNGmask").decode()
    tool = {"type": "image_generation", "action": "edit", "input_image_mask": {"image_url": mask}}
    message = {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "add a hat"},
            {"type": "input_image", "image_url": photo},
        ],
    }
    body = {"model": "fake-model", "input": [message], "tools": [tool]}
    response = check_response(images.post("/responses", json=body).json())
    assert response["output"][0]["action"] == "edit"
    [(_, files)] = service[0].edits
    assert files == {"image": b"\x89PNGphoto", "mask": b"\x89PNGmask"}
    # `action: edit` always edits: the model is not asked.
    assert upstream.requests[0]["tools"][0]["function"]["parameters"]["required"] == ["prompt"]


def test_an_edit_with_no_image_fails_the_call(images, upstream, service):
    upstream.script(*_draw_then("There was nothing to edit.", edit=True))
    body = {"model": "fake-model", "input": "x", "tools": [{"type": "image_generation"}]}
    response = check_response(images.post("/responses", json=body).json())
    assert response["output"][0]["status"] == "failed"
    told = upstream.requests[1]["messages"][-1]["content"]
    assert told == "The image could not be made: there is no image in the conversation to edit."
    assert service[0].edits == [] and service[0].bodies == []


def test_action_generate_never_edits(images, upstream, service):
    upstream.script(*_draw_then("New.", edit=True))
    tool = {"type": "image_generation", "action": "generate"}
    body = {"model": "fake-model", "input": "x", "tools": [tool]}
    response = check_response(images.post("/responses", json=body).json())
    assert response["output"][0]["action"] == "generate"
    assert len(service[0].bodies) == 1 and service[0].edits == []
