"""ClamAV and attachment facts end to end: moatd with our signature files
(rules.d/clamav) and the shipped policy rules (rules.d/policy) receives
EICAR plain, in a zip and in a zip in a zip; tracking shows the VIRUS
finding and the message never reaches the next hop. A clean message with an
archive is relayed; an .exe named .pdf is seen for what it is; a new
signature file is picked up at SIGHUP without stopping mail.

No EICAR file is committed: the test string is assembled here at run time
and the archives are built with zipfile/tarfile.
"""

import email.message
import io
import shutil
import signal
import tarfile
import zipfile

import pytest

from conftest import (FILTER_NAMES, ROOT, SMTPClient, new_message_id,
                      norm_mid, wait_until)

# Two halves, joined at run time.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" +
         "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
RCPT = "user@example.com"
SENDER = "sender@outside.example"


def av_conf(clamav_extra=""):
    others = " ".join("%s = { enabled = false; };" % f for f in FILTER_NAMES
                      if f not in ("clamav", "attachments"))
    return ('filters = { clamav = { enabled = true; system_db = ""; '
            'check_interval = 0; %s }; attachments = { enabled = true; }; '
            '%s };\n' % (clamav_extra, others))


def start_av(moatd, sink, clamav_extra=""):
    m = moatd(sink, start=False, conf_extra=av_conf(clamav_extra))
    for sub in ("clamav", "policy"):
        if (ROOT / "rules.d" / sub).is_dir():
            shutil.copytree(ROOT / "rules.d" / sub, m.dir / "rules.d" / sub,
                            dirs_exist_ok=True)
    m.start()
    if "clamav: libclamav" not in m.log():
        m.stop()
        pytest.skip("filter_clamav is not in scan_filters[] yet")
    return m


def zip_of(name, data):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return b.getvalue()


def tgz_of(name, data):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz") as t:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return b.getvalue()


def message(mid, text="Please see the attachment.\n", attachment=None,
            filename=None, ctype="application/octet-stream"):
    msg = email.message.EmailMessage()
    msg["From"] = "Sender <%s>" % SENDER
    msg["To"] = RCPT
    msg["Subject"] = "av test %s" % mid.split("@")[0]
    msg["Message-ID"] = "<%s>" % mid
    msg["Date"] = "Mon, 2 Jun 2025 10:00:00 +0000"
    msg.set_content(text)
    if attachment is not None:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(attachment, maintype=maintype, subtype=subtype,
                           filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def deliver(m, data):
    """Send; the SMTP answer to DATA as (code, text)."""
    c = SMTPClient(m.port)
    try:
        assert c.cmd("EHLO client.e2e.test").code == 250
        assert c.cmd("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.cmd("RCPT TO:<%s>" % RCPT).code == 250
        r = c.data(data)
        c.cmd("QUIT")
        return r.code, r.text
    finally:
        c.close()


def tracked(m, mid, timeout=30):
    recs = wait_until(lambda: m.track_by_message_id(mid), timeout,
                      "tracking record for %s" % mid)
    return recs[0]


def symbols(rec):
    return {f["symbol"]: f for f in (rec.get("findings") or [])}


def relayed_ids(sink):
    return {norm_mid(x.get("message_id")) for x in sink.messages()}


@pytest.mark.parametrize("kind", ["plain", "zip", "zip_in_zip"])
def test_eicar_not_delivered(moatd, sink, kind):
    s = sink()
    m = start_av(moatd, s)
    mid = new_message_id("av-" + kind)
    if kind == "plain":
        data = message(mid, attachment=EICAR, filename="eicar.com")
    elif kind == "zip":
        data = message(mid, attachment=zip_of("eicar.com", EICAR),
                       filename="eicar.zip", ctype="application/zip")
    else:
        data = message(mid, attachment=zip_of(
            "inner.zip", zip_of("eicar.com", EICAR)),
            filename="nested.zip", ctype="application/zip")
    code, text = deliver(m, data)
    rec = tracked(m, mid)
    found = symbols(rec)
    assert "VIRUS" in found, rec
    assert "Moat.Test.EICAR" in found["VIRUS"]["detail"]
    assert rec["outcome"] != "relayed", rec
    assert code in (250, 554), (code, text)
    # Tracking is written after the final answer: had it been relayed,
    # the sink would hold it by now.
    assert norm_mid(mid) not in relayed_ids(s)


def test_clean_archive_relayed(moatd, sink):
    s = sink()
    m = start_av(moatd, s)
    mid = new_message_id("av-clean")
    data = message(mid, attachment=tgz_of("minutes.txt",
                                          b"Nothing happened.\n"),
                   filename="minutes.tar.gz", ctype="application/gzip")
    code, text = deliver(m, data)
    assert code == 250, text
    s.wait_for(1, 20)
    assert norm_mid(mid) in relayed_ids(s)
    rec = tracked(m, mid)
    assert rec["outcome"] == "relayed"
    assert "VIRUS" not in symbols(rec)


def test_exe_named_pdf(moatd, sink):
    """A .pdf whose bytes are a PE executable: the sniffed type decides."""
    s = sink()
    m = start_av(moatd, s)
    pe = bytearray(512)
    pe[0:2] = b"MZ"
    pe[0x3c] = 0x80
    pe[0x80:0x84] = b"PE\0\0"
    pe[0x84:0x86] = b"\x4c\x01"
    pe[0x94] = 0xe0
    pe[0x96:0x98] = b"\x02\x01"
    pe[0x98:0x9a] = b"\x0b\x01"
    mid = new_message_id("av-pe")
    deliver(m, message(mid, attachment=bytes(pe), filename="invoice.pdf",
                       ctype="application/pdf"))
    found = symbols(tracked(m, mid))
    assert "ATTACH_TYPE_MISMATCH" in found, found
    assert "invoice.pdf" in found["ATTACH_TYPE_MISMATCH"]["detail"]
    assert "ATTACH_EXECUTABLE" in found


def test_new_signature_at_sighup(moatd, sink):
    """Signatures change, SIGHUP: the new engine takes over, mail flows."""
    s = sink()
    m = start_av(moatd, s)
    marker = b"MOAT-RELOAD-MARKER-7f3a"
    mid1 = new_message_id("av-before")
    code, text = deliver(m, message(mid1, text="%s\n" % marker.decode()))
    assert code == 250, text
    assert "VIRUS" not in symbols(tracked(m, mid1))

    (m.dir / "rules.d" / "clamav" / "reload.ndb").write_text(
        "Moat.Test.Reload:0:*:%s\n" % marker.hex())
    m.kill(signal.SIGHUP)
    wait_until(lambda: "clamav: signatures changed" in m.log(), 20,
               "the rebuilt engine")
    mid2 = new_message_id("av-after")
    deliver(m, message(mid2, text="%s\n" % marker.decode()))
    found = symbols(tracked(m, mid2))
    assert "VIRUS" in found
    assert "Moat.Test.Reload" in found["VIRUS"]["detail"]


def test_broken_signature_keeps_engine(moatd, sink):
    """A broken signature file fails the reload; the old engine scans on."""
    s = sink()
    m = start_av(moatd, s)
    (m.dir / "rules.d" / "clamav" / "broken.ndb").write_text(
        "Broken:0:*:not-hex\n")
    m.kill(signal.SIGHUP)
    wait_until(lambda: "reload failed" in m.log(), 20, "the failed reload")
    mid = new_message_id("av-after-broken")
    deliver(m, message(mid, attachment=zip_of("eicar.com", EICAR),
                       filename="eicar.zip", ctype="application/zip"))
    assert "VIRUS" in symbols(tracked(m, mid))
    assert norm_mid(mid) not in relayed_ids(s)
