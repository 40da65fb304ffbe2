"""A real MCP client (the official Python SDK, `mcp` on PyPI) between a test and a server.

Usage: mcp_bridge.py COMMAND [ARGS...]
       mcp_bridge.py --http URL   (the bearer token in $MCP_BRIDGE_TOKEN)

Starts COMMAND as an MCP server over stdio (with this process's environment), or connects to
a server's streamable HTTP endpoint at URL, initialises the session, and then answers one JSON request per line of standard input with one JSON line
on standard output:

  {"list_tools": true}               -> {"tools": [{"name", "description", "input_schema"}]}
  {"tool": NAME, "args": {...}}      -> {"is_error": bool, "texts": [...], "images":
                                         [{"mime", "bytes", "width", "height"}],
                                         "structured": {...} | null, "result_bytes": N,
                                         "progress": [{"progress", "total", "message"}]}
  {"tool": ..., "cancel_after_progress": N}
                                     -> the call is cancelled (notifications/cancelled) once N
                                        progress notifications came: {"cancelled": true,
                                        "progress": [...]}

A protocol failure is {"protocol_error": "..."}. End of input closes the session.

With $MCP_BRIDGE_ELICIT set to "accept" or "decline" the client offers elicitation and gives
that answer to every form it is shown (accept: {"allow": true}); each answer then carries the
messages it was shown as "elicited": [...]. Without it the client offers no elicitation.

"""

import asyncio
import base64
import io
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def image_size(data):
    """Width and height of a PNG or JPEG, read from its header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    f = io.BytesIO(data)
    if f.read(2) != b"\xff\xd8":
        return None
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        length = int.from_bytes(f.read(2), "big")
        if marker[1] in (0xC0, 0xC1, 0xC2):
            f.read(1)
            h = int.from_bytes(f.read(2), "big")
            w = int.from_bytes(f.read(2), "big")
            return w, h
        f.read(length - 2)


def field(obj, *names):
    """An attribute by its name in the SDK's 2.x (snake case) or 1.x (camel case)."""
    for n in names:
        if hasattr(obj, n):
            return getattr(obj, n)
    return None


async def main(argv):
    if argv[0] == "--http":
        headers = {"Authorization": "Bearer " + os.environ["MCP_BRIDGE_TOKEN"]}
        async with create_mcp_http_client(headers=headers) as client:
            async with streamable_http_client(argv[1], http_client=client) as (read, write):
                await serve(read, write)
    else:
        params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            await serve(read, write)


async def serve(read, write):
    elicited = []
    answer = os.environ.get("MCP_BRIDGE_ELICIT")

    async def on_elicit(context, params):
        import mcp_types
        elicited.append(params.message)
        if answer == "accept":
            return mcp_types.ElicitResult(action="accept", content={"allow": True})
        return mcp_types.ElicitResult(action="decline")

    extra = {"elicitation_callback": on_elicit} if answer else {}
    if True:
        async with ClientSession(read, write, **extra) as session:
            await session.initialize()
            loop = asyncio.get_running_loop()
            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line:
                    break
                req = json.loads(line)
                try:
                    if req.get("list_tools"):
                        tools = await session.list_tools()
                        out = {"tools": [{"name": t.name, "description": t.description,
                                          "input_schema": field(t, "input_schema", "inputSchema")}
                                         for t in tools.tools]}
                    else:
                        progress = []
                        enough = asyncio.Event()
                        limit = req.get("cancel_after_progress")

                        async def on_progress(done, total, message):
                            progress.append({"progress": done, "total": total, "message": message})
                            if limit is not None and len(progress) >= limit:
                                enough.set()

                        call = asyncio.ensure_future(
                            session.call_tool(req["tool"], req.get("args") or {}, progress_callback=on_progress))
                        waiter = asyncio.ensure_future(enough.wait())
                        await asyncio.wait([call, waiter], return_when=asyncio.FIRST_COMPLETED)
                        waiter.cancel()
                        if not call.done():
                            call.cancel()
                            try:
                                await call
                            except asyncio.CancelledError:
                                pass
                            print(json.dumps({"cancelled": True, "progress": progress}), flush=True)
                            continue
                        r = call.result()
                        shown = list(elicited)
                        elicited.clear()
                        out = {"elicited": shown, "progress": progress, "is_error": bool(field(r, "is_error", "isError")), "texts": [], "images": [],
                               "structured": field(r, "structured_content", "structuredContent"),
                               "result_bytes": len(r.model_dump_json(by_alias=True, exclude_none=True))}
                        for c in r.content:
                            if c.type == "text":
                                out["texts"].append(c.text)
                            elif c.type == "image":
                                data = base64.b64decode(c.data)
                                size = image_size(data)
                                out["images"].append({"mime": field(c, "mime_type", "mimeType"), "bytes": len(data),
                                                      "width": size and size[0], "height": size and size[1]})
                except Exception as e:  # a protocol failure, reported to the test
                    out = {"protocol_error": f"{type(e).__name__}: {e}"}
                print(json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
