"""Transcription on a group's Whisper server: a real OpenAI-compatible server process
(faster-whisper-server with the bundled base model, tests/whisper_server.py) on 127.0.0.1
transcribes the Dutch demo recording; the faults a server shows (401, 429, a reply of the wrong
shape, a server stopped mid-job) end as they should; plain http to a public address is refused;
the token is never stored or logged. The suite's network guard still allows loopback only."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.pipeline.demo import load_demo
from core.pipeline.server_job import chunk_audio, plan_chunks, transcribe_on_server
from core.speech import remote
from core.speech.remote import RemoteWhisper, Server, ServerUnreachable, check_address, parse_reply, reply_words
from core.store import servers as registry
from core.store.database import Store
from tui.cli import main

import whisper_server
from whisper_server import FaultyFront, WhisperServer

# Skipped without the server, except in CI (CI=true), where .ci/install must have put it there.
pytestmark = pytest.mark.skipif(not whisper_server.available() and os.environ.get("CI") != "true",
                                reason="needs faster-whisper-server in build/whisper-server (bash .ci/install)")

TOKEN = "s3cret-token-for-the-test-7f1c"
EXCERPT = 60.0  # seconds of the demo each fault test sends, so that the suite stays short


@pytest.fixture(scope="module")
def server(tmp_path_factory, models_home):
    from core.speech.models import resolve_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FIELDNOTE_MODELS", str(models_home))
        base = resolve_model("base").path
    s = WhisperServer(base, tmp_path_factory.mktemp("whisper-server"))
    s.start()
    yield s
    s.stop()


@pytest.fixture
def front(server):
    f = FaultyFront(server.url)
    yield f
    f.close()


def _excerpt(folder: Path, seconds: float | None) -> Path:
    """The Dutch demo's two tracks, whole or their first `seconds`."""
    demo = load_demo("nl")
    if seconds is None:
        return demo.folder
    folder.mkdir(parents=True, exist_ok=True)
    for speaker, path in demo.tracks.items():
        audio, rate = sf.read(path, dtype="float32", frames=int(seconds * 16_000))
        sf.write(folder / f"{speaker}.flac", audio, rate)
    return folder


def _session(store: Store, folder: Path) -> int:
    """A session as `fieldnote demo` makes it: the demo's guide, its tracks as the recording."""
    demo = load_demo("nl")
    sid = store.create_session(demo.guide, origin="demo", respondent=demo.respondent, case_name=demo.case_name,
                               title=demo.title, model="base")
    store.set_session_audio_dir(sid, folder)
    store.end_session(sid, "completed", duration=EXCERPT)
    return sid


def _words(texts) -> list[str]:
    return [w.strip(".,?!:;\"'").lower() for t in texts for w in t.split() if w.strip(".,?!:;\"'")]


def wer(ref: list[str], hyp: list[str]) -> float:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def _texts(store: Store, sid: int) -> list[str]:
    return [s["text"] for s in sorted(store.segments(sid), key=lambda s: (s["speaker"], s["start"]))]


# the real server ------------------------------------------------------------------------------


def test_the_server_transcribes_the_demo_as_this_machine_does(server, tmp_path, models_home):
    """The first minute of the Dutch demo through the server, against this machine transcribing the
    same chunks with the same model and decoding (temperature 0: no sampling, so both are
    deterministic). (The whole demo, 8.3 min, agrees as well; it cost the suite minutes.)"""
    from core.speech.models import load_model, resolve_model
    from core.speech.tracks import transcribe_options

    store = Store(tmp_path / "study.db")
    folder = _excerpt(tmp_path / "audio", EXCERPT)
    sid = _session(store, folder)
    lab = Server("lab", server.url, "whisper-1")
    result = transcribe_on_server(store, sid, lab, parallel=2, temperature=0.0)
    assert result.chunks > 3 and result.inserted > 3 and result.resumed == 0
    rows = store.segments(sid)
    assert {(r["model"], r["server"]) for r in rows} == {("whisper-1", f"lab ({server.url})")}
    assert registry.chunk_count(store, sid) == 0  # applied: the kept chunks are gone

    model = load_model(resolve_model("base"), "nl", threads=2)
    local_words = []
    for speaker in ("interviewer", "respondent"):
        path = folder / f"{speaker}.flac"
        for chunk, audio in chunk_audio(path, plan_chunks(speaker, path)):
            segments, _ = model.transcribe(audio, **{**transcribe_options("nl", False), "temperature": 0.0})
            reply = parse_reply({"segments": [
                {"start": s.start, "end": s.end, "text": s.text, "avg_logprob": s.avg_logprob,
                 "no_speech_prob": s.no_speech_prob} for s in segments]})
            local_words.append((speaker, [w.text for w in reply_words(reply, chunk.start)]))
    local = _words(" ".join(ws) for sp in ("interviewer", "respondent") for s, ws in local_words if s == sp)
    served = _words(_texts(store, sid))
    assert len(served) > 40
    assert wer(local, served) < 0.02


def test_edits_and_codings_survive_a_transcription_on_the_server(server, tmp_path, capsys):
    db = tmp_path / "study.db"
    store = Store(db)
    sid = _session(store, _excerpt(tmp_path / "audio", 30.0))
    lab = Server("lab", server.url, "whisper-1")
    transcribe_on_server(store, sid, lab)
    from core.store import review

    first, second = [s for s in store.segments(sid) if s["speaker"] == "respondent"][:2]
    review.edit_text(store, first["id"], "Zo zei ik het echt.")
    guide = store.session_guide(sid)
    dim = guide.dimensions[0]
    store.add_coding(second["id"], dim.id, dim.indicators[0].id, origin="manual")
    store.close()
    assert main(["--db", str(db), "servers", "add", "lab", server.url, "--model", "whisper-1"]) == 0
    assert main(["--db", str(db), "transcribe", str(sid), "--server", "lab", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "transcribed on server lab" in out and "kept as you wrote them" in out
    store = Store(db)
    assert store.segment(first["id"])["text"] == "Zo zei ik het echt."
    assert store.codings_for([second["id"]])[second["id"]]
    assert store.segment(second["id"])["server"] == f"lab ({server.url})"
    assert main(["--db", str(db), "export", str(sid), "--format", "md"]) == 0
    assert f"**Transcribed on server:** lab ({server.url}), whisper-1: " in capsys.readouterr().out


def test_a_server_stopped_mid_job_is_resumed_from_the_last_chunk_done(server, tmp_path):
    store = Store(tmp_path / "study.db")
    sid = _session(store, _excerpt(tmp_path / "audio", EXCERPT))
    lab = Server("lab", server.url, "whisper-1")
    done = []

    def progress(p) -> None:
        done.append(p.done)
        if len([d for d in done if d > 0]) == 2 and server.process is not None:
            server.stop()  # two chunks back: the server goes away

    client = RemoteWhisper(lab, retries=2, backoff=0.05)
    try:
        with pytest.raises(ServerUnreachable, match="goes on from the last chunk done"):
            transcribe_on_server(store, sid, lab, parallel=1, client=client, on_progress=progress)
        assert store.segments(sid) == []  # nothing applied
        kept = registry.chunk_count(store, sid)
        assert kept >= 2
    finally:
        server.start()
    result = transcribe_on_server(store, sid, lab, parallel=2)
    assert result.resumed == kept and result.chunks > kept
    assert result.inserted > 0 and registry.chunk_count(store, sid) == 0


def test_a_stopped_job_writes_nothing_and_the_next_run_goes_on_from_it(server, tmp_path):
    from core.speech.batched import Cancelled

    store = Store(tmp_path / "study.db")
    sid = _session(store, _excerpt(tmp_path / "audio", 30.0))
    lab = Server("lab", server.url, "whisper-1")
    stop = threading.Event()

    def progress(p) -> None:
        if p.done > 0:
            stop.set()  # Ctrl-C once the first chunk is back

    with pytest.raises(Cancelled, match="goes on from the last chunk done"):
        transcribe_on_server(store, sid, lab, parallel=1, on_progress=progress, stop=stop)
    assert store.segments(sid) == [] and registry.chunk_count(store, sid) >= 1
    kept = registry.chunk_count(store, sid)
    result = transcribe_on_server(store, sid, lab)
    assert result.resumed == kept and result.inserted > 0


# faults ---------------------------------------------------------------------------------------


def test_a_busy_server_is_asked_again_and_a_broken_answer_retried(front, tmp_path):
    store = Store(tmp_path / "study.db")
    sid = _session(store, _excerpt(tmp_path / "audio", 20.0))
    front.too_many = 2
    front.broken = 1
    lab = Server("lab", front.url, "whisper-1")
    retries = []
    client = RemoteWhisper(lab, backoff=0.01, on_retry=retries.append)
    result = transcribe_on_server(store, sid, lab, parallel=1, client=client)
    statuses = [r["status"] for r in front.transcriptions()]
    assert statuses[:3] == [429, 429, 500] and set(statuses[3:]) == {200}
    assert len(retries) == 3 and result.inserted > 0


def test_a_refused_token_is_one_clear_message_and_the_token_is_never_stored(front, tmp_path, capsys, monkeypatch,
                                                                           fieldnote_home):
    db = tmp_path / "study.db"
    store = Store(db)
    sid = _session(store, _excerpt(tmp_path / "audio", 20.0))
    store.close()
    front.token = TOKEN
    assert main(["--db", str(db), "servers", "add", "lab", front.url, "--token-env", "LAB_TOKEN"]) == 0
    monkeypatch.setenv("LAB_TOKEN", "not-the-token")
    assert main(["--db", str(db), "transcribe", str(sid), "--server", "lab", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "answered 401" in err and "LAB_TOKEN" in err and "Traceback" not in err
    refused = [r["status"] for r in front.transcriptions()]
    assert set(refused) == {401} and len(refused) <= 2  # not retried: only the two requests in flight
    monkeypatch.setenv("LAB_TOKEN", TOKEN)
    assert main(["--db", str(db), "transcribe", str(sid), "--server", "lab"]) == 0  # allowed once, remembered
    assert front.transcriptions()[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert Store(db).segment_count(sid) > 0
    for path in [db, db.with_name(db.name + "-wal"), *fieldnote_home.rglob("*")]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_a_reply_of_the_wrong_shape_is_one_clear_message(front, tmp_path, capsys):
    db = tmp_path / "study.db"
    store = Store(db)
    sid = _session(store, _excerpt(tmp_path / "audio", 20.0))
    store.close()
    front.wrong_shape = True
    assert main(["--db", str(db), "servers", "add", "lab", front.url]) == 0
    assert main(["--db", str(db), "transcribe", str(sid), "--server", "lab", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "not OpenAI's verbose_json" in err and "no list of segments" in err
    assert Store(db).segments(sid) == []


def test_servers_check_says_what_the_server_offers_and_lacks(front, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "servers", "add", "lab", front.url]) == 0
    assert main(["--db", str(db), "servers", "check", "lab"]) == 0
    out = capsys.readouterr().out
    assert "answers:      yes" in out
    assert "offers no list" in out  # faster-whisper-server has no /v1/models
    assert "lacks:        word times" in out
    paths_seen = [r["path"] for r in front.requests]
    assert paths_seen == ["/v1/models", "/v1/audio/transcriptions"]


def test_a_server_that_does_not_answer_is_said_so_after_the_retries(tmp_path):
    lab = Server("gone", f"http://127.0.0.1:{whisper_server.free_port()}")
    client = RemoteWhisper(lab, retries=2, backoff=0.01)
    with pytest.raises(ServerUnreachable, match="after 3 tries"):
        client.transcribe(np.zeros(16_000, dtype=np.float32), language="nl")


# what is allowed ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://93.184.216.34:8000", "http://whisper.example.org", "http://[2606:4700:4700::1111]/"])
def test_plain_http_to_a_public_address_is_refused(url, tmp_path, capsys):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "servers", "add", "pub", url]) == 2
    assert "plain http" in capsys.readouterr().err
    assert registry.servers(Store(db)) == []
    assert main(["--db", str(db), "servers", "add", "pub", url, "--insecure-http"]) == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000/v1", "http://10.1.2.3",
                                 "http://192.168.1.20:9000", "https://whisper.example.org"])
def test_https_loopback_and_private_addresses_are_allowed(url):
    assert check_address(url, insecure_http=False) == remote.base_url(url)


def test_a_url_with_a_password_or_a_token_as_variable_name_is_refused(tmp_path, capsys):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "servers", "add", "a", "https://me:pw@whisper.example.org"]) == 2
    with pytest.raises(SystemExit) as refused:  # argparse's own refusal, exit status 2 as well
        main(["--db", str(db), "servers", "add", "b", "https://whisper.example.org", "--token-env", "sk-abc.123"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "no user or password" in err and "never the token itself" in err


def test_the_first_use_for_a_study_asks_once(tmp_path, capsys, monkeypatch):
    db = tmp_path / "study.db"
    store = Store(db)
    sid = _session(store, _excerpt(tmp_path / "audio", 5.0))
    store.close()
    assert main(["--db", str(db), "servers", "add", "lab", "http://127.0.0.1:9"]) == 0
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    assert main(["--db", str(db), "transcribe", str(sid), "--server", "lab"]) == 2
    assert "not yet allowed" in capsys.readouterr().err
    assert not registry.approved(Store(db), registry.server(Store(db), "lab").id, load_demo("nl").guide.id)


def test_servers_list_and_remove(tmp_path, capsys):
    db = tmp_path / "study.db"
    assert main(["--db", str(db), "servers", "add", "lab", "https://w.example.org", "--model", "large-v3",
                 "--token-env", "LAB_TOKEN"]) == 0
    assert main(["--db", str(db), "servers", "list"]) == 0
    out = capsys.readouterr().out
    assert "lab" in out and "large-v3" in out and "$LAB_TOKEN" in out
    assert main(["--db", str(db), "servers", "add", "lab", "https://w.example.org"]) == 2
    assert main(["--db", str(db), "servers", "remove", "lab"]) == 0
    assert main(["--db", str(db), "servers", "remove", "lab"]) == 2
    assert "no server named 'lab'" in capsys.readouterr().err


@pytest.mark.parametrize("reply, problem", [
    ([], "not a JSON object"),
    ({"text": "hallo"}, "no list of segments"),
    ({"segments": [{"start": 0, "end": 1}]}, "segment 0 has no text"),
    ({"segments": [{"start": "0", "end": 1, "text": "x"}]}, "start"),
    ({"segments": [{"start": 2, "end": 1, "text": "x"}]}, "ends before it starts"),
    ({"segments": [], "words": [{"start": 0}]}, "word 0 has no text"),
])
def test_a_reply_not_of_the_shape_is_named(reply, problem):
    with pytest.raises(ValueError, match=problem):
        parse_reply(reply)


def test_words_without_word_times_are_spread_over_their_segment_and_inventions_dropped():
    reply = parse_reply({"segments": [
        {"start": 0.0, "end": 2.0, "text": " ja dat klopt", "avg_logprob": -0.2, "no_speech_prob": 0.1},
        {"start": 3.0, "end": 4.0, "text": " Ondertiteling door de Amara.org gemeenschap", "avg_logprob": -0.2,
         "no_speech_prob": 0.1},
    ]})
    words = reply_words(reply, offset=10.0)
    assert [w.text for w in words] == [" ja", " dat", " klopt"]
    assert words[0].start == 10.0 and words[-1].end == pytest.approx(12.0)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(words, words[1:]))


# live -----------------------------------------------------------------------------------------


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_live_utterances_go_through_the_server_and_fall_back_when_it_is_slow(front, tmp_path):
    from scripted import ScriptedTranscriber

    demo = load_demo("nl")
    audio, _ = sf.read(demo.tracks["respondent"], dtype="float32", start=9 * 16_000, frames=4 * 16_000)
    local = ScriptedTranscriber(["op deze machine gehoord"] * 3, name="base")
    said = []
    clock = _Clock()
    live = remote.ServerTranscriber(RemoteWhisper(Server("lab", front.url, "whisper-1"), retries=0), local,
                                    language="nl", budget=120.0, cool_off=30.0, on_fallback=said.append, clock=clock)
    heard = live.transcribe(audio)
    assert heard.text and heard.server == f"lab ({front.url})" and heard.model == "whisper-1"
    front.delay, live.budget = 3.0, 0.5  # the server answers after the live budget
    slow = live.transcribe(audio)
    assert slow.text == "op deze machine gehoord" and slow.server is None
    assert "slower than the live budget" in said[-1] and "on this machine (base)" in said[-1]
    clock.now = 10.0  # within the cool-off: this machine, without asking the server
    asked = len(front.transcriptions())
    assert live.transcribe(audio).server is None and len(front.transcriptions()) == asked
    front.delay, live.budget = 0.0, 120.0
    clock.now = 40.0
    again = live.transcribe(audio)
    assert again.server == f"lab ({front.url})" and "is back" in said[-1]
    assert (live.on_server, live.fallbacks) == (2, 2)
    live.close()


def test_a_live_session_through_the_server_stores_who_heard_each_segment(server, tmp_path):
    import io

    from core.pipeline.demo import recording_demo, replay_pipeline, run_headless
    from core.speech.transcriber import WhisperTranscriber
    from core.speech.models import resolve_model

    folder = _excerpt(tmp_path / "audio", 20.0)
    demo = recording_demo(folder / "interviewer.flac", folder / "respondent.flac", "koers-en-kansen")
    store = Store(tmp_path / "study.db")
    sid = store.create_session(demo.guide, origin="demo", title=demo.title, model="base")
    local = WhisperTranscriber(resolve_model("base"), language="nl")
    live = remote.ServerTranscriber(RemoteWhisper(Server("lab", server.url, "whisper-1")), local, language="nl",
                                    budget=60.0)
    run_headless(store, sid, replay_pipeline(demo, live, realtime=False, store=store), out=io.StringIO())
    rows = store.segments(sid)
    assert rows and {(r["model"], r["server"]) for r in rows} == {("whisper-1", f"lab ({server.url})")}
    assert live.fallbacks == 0


def test_demo_through_the_server_from_the_command_line(server, tmp_path, capsys):
    db = tmp_path / "study.db"
    folder = _excerpt(tmp_path / "audio", 20.0)
    tracks = [str(folder / "interviewer.flac"), str(folder / "respondent.flac")]
    assert main(["--db", str(db), "servers", "add", "lab", server.url, "--model", "whisper-1"]) == 0
    # The setup screen cannot ask: the study's consent to the server is asked before it opens.
    assert main(["--db", str(db), "record", "--server", "lab", "--guide", "koers-en-kansen", "--consent"]) == 2
    assert "not yet allowed for this study" in capsys.readouterr().err and not Store(db).sessions()
    demo = ["--db", str(db), "demo", "--tracks", *tracks, "--guide", "koers-en-kansen", "--fast", "--server", "lab"]
    assert main([*demo, "--no-ui", "--yes", "--live-budget", "300"]) == 0  # never falls back here
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert printed
    store = Store(db)
    (session,) = store.sessions()
    rows = store.segments(session["id"])
    assert len(rows) == len(printed)
    assert {(r["model"], r["server"]) for r in rows} == {("whisper-1", f"lab ({server.url})")}


def test_the_command_line_offers_the_live_budget_the_transcriber_keeps():
    from tui.commands import servers as servers_command

    assert servers_command.LIVE_BUDGET_DEFAULT == remote.LIVE_BUDGET


async def test_the_live_screen_says_when_this_machine_stands_in_for_the_server(front, tmp_path):
    from core.pipeline.demo import recording_demo, replay_pipeline
    from scripted import ScriptedTranscriber
    from tui.app import make_app
    from tui.commands.servers import notify_fallbacks

    folder = _excerpt(tmp_path / "audio", 20.0)
    demo = recording_demo(folder / "interviewer.flac", folder / "respondent.flac", "koers-en-kansen")
    store = Store(tmp_path / "study.db")
    sid = store.create_session(demo.guide, origin="demo", title=demo.title, model="base")
    front.delay = 5.0  # every answer comes after the live budget of 0.2 s
    local = ScriptedTranscriber(["op deze machine gehoord"] * 20, name="base")
    live = remote.ServerTranscriber(RemoteWhisper(Server("lab", front.url, "whisper-1"), retries=0), local,
                                    language="nl", budget=0.2)
    app = make_app(store, session_id=sid, pipeline=replay_pipeline(demo, live, realtime=False), state="replaying")
    notify_fallbacks(app, live)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        for _ in range(400):
            if screen.finished.is_set():
                break
            await pilot.pause(0.05)
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        await pilot.press("q")
        await pilot.pause()
    assert any("slower than the live budget" in m and "on this machine (base)" in m for m in messages), messages
    rows = store.segments(sid)
    assert rows and {r["server"] for r in rows} == {None} and local.calls == len(rows)
    live.close()


async def test_review_shows_which_server_transcribed_a_segment(tmp_path):
    from core.store.database import NewSegment
    from textual.widgets import Static
    from tui.app import make_app
    from tui.screens.review import ReviewScreen
    from tui.widgets.transcript import TranscriptList

    store = Store(tmp_path / "study.db")
    sid = _session(store, _excerpt(tmp_path / "audio", 5.0))
    here = store.add_segment(sid, NewSegment("interviewer", "hier gehoord", 0.5, 2.0))
    there = store.add_segment(sid, NewSegment("respondent", "daar gehoord", 2.5, 4.0, model="large-v3",
                                              server="lab (https://whisper.lab.example)"))
    async with make_app(store, review_session=sid).run_test(size=(140, 40)) as pilot:
        for _ in range(200):
            if isinstance(pilot.app.screen, ReviewScreen) and pilot.app.screen.data is not None:
                break
            await pilot.pause(0.05)
        shown = {}
        for seg_id in (here, there):
            pilot.app.screen.query_one(TranscriptList).select_id(seg_id)
            await pilot.pause()
            shown[seg_id] = str(pilot.app.screen.query_one("#segment-info", Static).render())
    assert "Transcribed on server lab (https://whisper.lab.example) with large-v3" in shown[there]
    assert "server" not in shown[here]


def test_a_recording_imported_with_a_server_is_transcribed_there(server, tmp_path, capsys):
    db = tmp_path / "study.db"
    folder = _excerpt(tmp_path / "audio", 20.0)
    tracks = [str(folder / "interviewer.flac"), str(folder / "respondent.flac")]
    assert main(["--db", str(db), "servers", "add", "lab", server.url, "--model", "whisper-1"]) == 0
    command = ["--db", str(db), "import", *tracks, "--guide", "koers-en-kansen", "--server", "lab"]
    assert main(command) == 2  # not yet allowed for the study, and no terminal to ask on
    assert "--yes" in capsys.readouterr().err and not Store(db).sessions()
    assert main([*command, "--model", "base", "--yes"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main([*command, "--yes"]) == 0
    err = capsys.readouterr().err
    assert "transcribed on server lab" in err and "loading the model" not in err
    store = Store(db)
    (session,) = store.sessions()
    rows = store.segments(session["id"])
    assert {r["speaker"] for r in rows} == {"interviewer", "respondent"}
    assert {(r["model"], r["server"]) for r in rows} == {("whisper-1", f"lab ({server.url})")}
    assert len(_words(r["text"] for r in rows)) > 20
    assert registry.chunk_count(store, session["id"]) == 0


def test_utterances_heard_here_while_the_server_was_slow_are_sent_to_it_afterwards(front, tmp_path, capsys):
    import io

    from core.pipeline.demo import recording_demo, replay_pipeline, run_headless
    from core.store.server_queue import queued_count
    from scripted import ScriptedTranscriber
    from tui.commands.servers import after_live_session

    folder = _excerpt(tmp_path / "audio", 20.0)
    demo = recording_demo(folder / "interviewer.flac", folder / "respondent.flac", "koers-en-kansen")
    db = tmp_path / "study.db"
    store = Store(db)
    sid = store.create_session(demo.guide, origin="demo", title=demo.title, model="base")
    store.set_session_audio_dir(sid, folder)
    local = ScriptedTranscriber(["op deze machine gehoord"] * 20, name="base")

    def back(message: str) -> None:  # the first utterance was slow; from then on the server answers in time
        front.delay, live.budget = 0.0, 300.0

    front.delay = 5.0
    live = remote.ServerTranscriber(RemoteWhisper(Server("lab", front.url, "whisper-1"), retries=0), local,
                                    language="nl", budget=0.5, cool_off=0.0, on_fallback=back)
    run_headless(store, sid, replay_pipeline(demo, live, realtime=False, store=store), out=io.StringIO())
    live.close()
    rows = store.segments(sid)
    heard_here = [r for r in rows if r["server"] is None]
    assert live.fallbacks == 1 and [r["text"] for r in heard_here] == ["op deze machine gehoord"]
    assert len(rows) > 2
    before = {r["id"]: r["text"] for r in rows}

    # The session ends while the server is away: the utterance stays queued, nothing changes.
    away = f"http://127.0.0.1:{whisper_server.free_port()}"
    assert main(["--db", str(db), "servers", "add", "lab", away, "--model", "whisper-1"]) == 0
    after_live_session(store, sid, live)
    assert "stay queued" in capsys.readouterr().err
    assert queued_count(store, sid) == 1 and {r["id"]: r["text"] for r in store.segments(sid)} == before

    # Later, with the server back: exactly that utterance's audio goes, its text is replaced.
    assert main(["--db", str(db), "servers", "remove", "lab"]) == 0
    assert main(["--db", str(db), "servers", "add", "lab", front.url, "--model", "whisper-1"]) == 0
    asked_live = live.on_server + live.fallbacks  # each utterance was asked of the server (no cool-off)
    for _ in range(600):  # the slow request is noted once it is answered, after its delay
        if len(front.transcriptions()) >= asked_live:
            break
        time.sleep(0.2)
    sent = len(front.transcriptions())
    assert sent == asked_live
    assert main(["--db", str(db), "transcribe", str(sid), "--server", "lab", "--queued", "--yes"]) == 0
    assert "were sent to server lab" in capsys.readouterr().out
    assert len(front.transcriptions()) == sent + 1
    store = Store(db)
    after = {r["id"]: r for r in store.segments(sid)}
    (queued_id,) = [r["id"] for r in heard_here]
    assert after[queued_id]["text"] != "op deze machine gehoord"
    assert (after[queued_id]["model"], after[queued_id]["server"]) == ("whisper-1", f"lab ({front.url})")
    assert {i: r["text"] for i, r in after.items() if i != queued_id} == {i: t for i, t in before.items() if i != queued_id}
    assert queued_count(store, sid) == 0
    assert main(["--db", str(db), "transcribe", str(sid), "--server", "lab", "--queued", "--yes"]) == 0
    assert "no utterances queued" in capsys.readouterr().out


def test_record_with_the_setup_screen_goes_through_the_server_for_the_study_allowed(tmp_path, monkeypatch):
    import core.pipeline.demo
    import tui.screens.setup
    from core.base.errors import UserError
    from core.study.guide import load_guide
    from scripted import ScriptedTranscriber

    made, refused, notes = [], [], []

    class Screen:  # stands in for the setup screen: starts a recording with each guide
        def __init__(self, store, plan, *, mic, system, transcriber_factory):
            self.factory = transcriber_factory

        def run(self):
            made.append(self.factory(load_guide("koers-en-kansen")))
            with pytest.raises(UserError) as other:
                self.factory(load_guide("remote-work-en"))
            refused.append(str(other.value))
            return None

        def call_from_thread(self, fn, *args, **kwargs):
            fn(*args, **kwargs)

        def notify(self, message, **kwargs):
            notes.append(message)

    monkeypatch.setattr(tui.screens.setup, "make_record_app", Screen)
    monkeypatch.setattr(core.pipeline.demo, "open_transcriber", lambda *a, **k: ScriptedTranscriber([], name="base"))
    db = tmp_path / "study.db"
    url = f"http://127.0.0.1:{whisper_server.free_port()}"
    assert main(["--db", str(db), "servers", "add", "lab", url]) == 0
    assert main(["--db", str(db), "record", "--server", "lab", "--guide", "koers-en-kansen", "--yes"]) == 0
    (live,) = made
    assert isinstance(live, remote.ServerTranscriber) and live.client.server.name == "lab"
    live.on_fallback("server lab: slower than the live budget")
    assert notes == ["server lab: slower than the live budget"]
    assert "not remote-work-en" in refused[0]
    live.close()
