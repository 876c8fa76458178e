"""Submit an admin change form the way a browser does: every field as the page shows it, some changed."""

from html.parser import HTMLParser


class _FormFields(HTMLParser):
    """The fields of the page's change form: inputs, checked boxes, selected options, textareas."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self._in_form = False
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form:
            return
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.data[name] = attrs.get("value", "on")
            else:
                self.data[name] = attrs.get("value") or ""
        elif tag == "select" and name:
            self._select, self._select_first = name, None
        elif tag == "option" and self._select:
            value = attrs.get("value") or ""
            if self._select_first is None:
                self._select_first = value
            if "selected" in attrs:
                self.data[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            self.data.setdefault(self._select, self._select_first or "")
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in_form = False


def change_form_data(client, url: str, **changes) -> dict:
    """The change form at `url` as the page fills it, with `changes` applied (None clears a field)."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    parser = _FormFields()
    parser.feed(response.content.decode())
    data = parser.data
    for name, value in changes.items():
        data[name] = "" if value is None else str(value)
    return data


def submit_change_form(client, url: str, **changes):
    """Post the change form with `changes`, following the redirect so the messages are in the answer."""
    return client.post(url, change_form_data(client, url, **changes), follow=True)


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []
