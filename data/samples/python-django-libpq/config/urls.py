from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("healthz", lambda _request: HttpResponse("ok"))]
