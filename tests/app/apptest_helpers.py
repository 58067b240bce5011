"""Helpers for AppTest tests."""

from streamlit.testing.v1 import AppTest


def run(at: AppTest, page: str | None = None, **params) -> AppTest:
    for key, value in params.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def url(at: AppTest) -> dict[str, list[str]]:
    """The app's query parameters, each as a list (AppTest keeps a single value bare)."""
    return {k: v if isinstance(v, list) else [v] for k, v in at.query_params.items()}
