import fastapi

api: fastapi.FastAPI = fastapi.FastAPI(title='x')
