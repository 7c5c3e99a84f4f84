"""The HTTP app: an ASGI edge over an explicit list of stages, and the uvicorn serving."""
