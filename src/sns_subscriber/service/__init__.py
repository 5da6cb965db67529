"""The ready-to-run service (extra ``service``): Starlette on uvicorn, plus workers."""
