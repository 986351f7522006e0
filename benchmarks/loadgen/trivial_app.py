"""The reference endpoint: the cheapest answer FastAPI + uvicorn[standard] can give.

Its ceiling, measured in the same run, is what every other figure is a ratio of: the machine
changes from session to session, the ratio much less.
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}
