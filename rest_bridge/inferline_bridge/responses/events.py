"""ChatStream messages as the Responses API's typed stream events, in OpenAI's order.

``response.created`` and ``response.in_progress`` first; then each output item opens
(``response.output_item.added``, and a message's ``response.content_part.added``), grows
(``response.output_text.delta`` or ``response.function_call_arguments.delta``) and closes
(the matching ``.done`` events, then ``response.output_item.done``); last comes
``response.completed`` (or ``response.incomplete``) carrying the whole response. Every event
has the next ``sequence_number``.
"""

from __future__ import annotations

from typing import Any

from inferline.v1 import chat_service_pb2 as pb
from inferline.v1 import common_pb2
from inferline_bridge.errors import APIError
from inferline_bridge.responses import output

Event = dict[str, Any]


class EventWriter:
    """Turns one ChatStream into events; ``response`` is the finished object at the end."""

    def __init__(self, response_id: str, settings: dict[str, Any]) -> None:
        self._id = response_id
        self._settings = settings
        self._sequence = 0
        self._items: list[dict[str, Any]] = []
        self._open: int | None = None  # output index of the item still growing
        self._calls: dict[int, int] = {}  # tool call index -> output index
        self._created = 0
        self._model = ""
        self.response: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _snapshot(self, finish: int | None = None, usage: Any = None) -> dict[str, Any]:
        return output.response_dict(
            self._id,
            self._settings,
            created=self._created,
            model=self._model,
            output=list(self._items) if finish is not None else [],
            finish=finish,
            usage=usage,
        )

    def _open_item(self, item: dict[str, Any]) -> list[Event]:
        events = self._close("completed")
        self._items.append(item)
        self._open = len(self._items) - 1
        added = {**item, "content": []} if item["type"] == "message" else dict(item)
        events.append(
            self._event("response.output_item.added", output_index=self._open, item=added)
        )
        if item["type"] == "message":
            events.append(self._part_event("response.content_part.added", output.text_part("")))
        return events

    def _part_event(self, kind: str, part: dict[str, Any]) -> Event:
        item_id = self._items[self._open or 0]["id"]
        where = {"item_id": item_id, "output_index": self._open, "content_index": 0}
        return self._event(kind, **where, part=part)

    def _close(self, status: str) -> list[Event]:
        if self._open is None:
            return []
        index, item = self._open, self._items[self._open]
        where = {"item_id": item["id"], "output_index": index}
        item["status"] = status
        if item["type"] == "message":
            part = item["content"][0]
            events = [
                self._event(
                    "response.output_text.done",
                    **where,
                    content_index=0,
                    text=part["text"],
                    logprobs=part["logprobs"],
                ),
                self._part_event("response.content_part.done", part),
            ]
        else:
            events = [
                self._event(
                    "response.function_call_arguments.done",
                    **where,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            ]
        events.append(self._event("response.output_item.done", output_index=index, item=item))
        self._open = None
        return events

    def _text(self, text: str, logprobs: list[dict[str, Any]]) -> list[Event]:
        events = []
        if self._open is None or self._items[self._open]["type"] != "message":
            item = output.message_item(output.new_id("msg"), "in_progress", [output.text_part("")])
            events += self._open_item(item)
        item = self._items[self._open or 0]
        item["content"][0]["text"] += text
        item["content"][0]["logprobs"] += logprobs
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=self._open,
                content_index=0,
                delta=text,
                logprobs=logprobs,
            )
        )
        return events

    def _call(self, delta: common_pb2.ToolCallDelta) -> list[Event]:
        events = []
        if delta.id:  # the first fragment of a call opens its item
            item = output.call_item(output.new_id("fc"), "in_progress", delta.id, delta.name, "")
            events += self._open_item(item)
            self._calls[delta.index] = len(self._items) - 1
        index = self._calls.get(delta.index)
        if index is None or not delta.arguments:
            return events
        item = self._items[index]
        item["arguments"] += delta.arguments
        events.append(
            self._event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=delta.arguments,
            )
        )
        return events

    def _final(self, final: common_pb2.StreamFinal) -> list[Event]:
        finish = final.choices[0].finish_reason if final.choices else 0
        status = "incomplete" if output.incomplete_reason(finish) else "completed"
        events = []
        if not self._items:  # nothing was generated: still one (empty) message, as unstreamed
            empty = output.message_item(output.new_id("msg"), "in_progress", [output.text_part("")])
            events += self._open_item(empty)
        events += self._close(status)
        self.response = self._snapshot(finish, final.usage)
        kind = "response.incomplete" if status == "incomplete" else "response.completed"
        events.append(self._event(kind, response=self.response))
        return events

    def events(self, message: pb.ChatStreamResponse) -> list[Event]:
        """The events to send for one stream message."""
        events = []
        if self._sequence == 0:
            self._created, self._model = message.created, message.model
            events += [
                self._event("response.created", response=self._snapshot()),
                self._event("response.in_progress", response=self._snapshot()),
            ]
        if message.HasField("final"):
            return events + self._final(message.final)
        delta = message.delta
        if delta.content or (delta.logprobs and not delta.tool_calls):
            events += self._text(delta.content, output.logprobs(delta.logprobs))
        for call in delta.tool_calls:
            events += self._call(call)
        return events

    def failed(self, error: APIError) -> list[Event]:
        """The events that end a stream that failed after it started."""
        body = {"code": error.code, "message": error.message, "param": error.param}
        failed = self._snapshot()
        failed.update(status="failed", error={"code": "server_error", "message": error.message})
        return [self._event("error", **body), self._event("response.failed", response=failed)]
