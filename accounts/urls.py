"""Sign up, log in, account pages."""

urlpatterns: list = []
