#!/usr/bin/python3
"""Measure the SpamAssassin-syntax rules alone on a mail corpus.

    tests/quality/rules_eval.py CORPUS [--rules DIR ...] [--system]
        [--threshold 5.0] [--score-set 0] [--no-hyperscan] [--threads N]
        [--per-rule] [--misses N] [--fps N] [--fit SCORES.cf]

CORPUS holds ham/ and spam/, one message per file. Builds
build/quality/sarule_run (the engine plus the MIME parser, no daemon),
scores every message with the rules only (no Bayes, no network checks)
and prints spam recall and ham false positives at the threshold, the
rules' throughput (CPU time, one core), and with --per-rule the hits of
each rule in spam and ham: the table used to tune scores. --misses and
--fps list spam below and ham above the threshold with their rules.

--fit runs the rules with every score at its default (the scores file,
named *scores.cf, is left out), then fits the scores: a logistic model of
"spam" on the rules' hits with the threshold as its fixed offset, ham
weighted --ham-weight times (false positives cost more), scores kept in
[0.1, --max-score] and pulled towards 1.0 so that rules which rarely hit
keep a plain score instead of one the corpus happened to favour. A rule
file line "# fit-max RULE N" caps a rule the corpus may overrate (a
phrase common in legitimate commercial mail, which this corpus lacks). It
prints the recall and false positives of a two-fold cross-validation
(fit on one half, measure on the other) and writes the scores fitted on
the whole corpus to SCORES.cf.
"""

import argparse
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "build", "quality", "sarule_run")
PKGS = "gmime-3.0 libpcre2-8 libhs"


def build():
    """Compile the tool from the engine and parser sources (release)."""
    srcs = ["tests/quality/sarule_run.c", "daemon/msg.c", "daemon/psl.c",
            "shared/log.c", "shared/xmalloc.c", "shared/buf.c",
            "shared/util.c"]
    for name in sorted(os.listdir(os.path.join(ROOT, "daemon"))):
        if name.endswith(".c") and (name.startswith("sarule_") or
                                    name.startswith("mime")):
            srcs.append("daemon/" + name)
    cflags = subprocess.check_output(
        ["pkg-config", "--cflags"] + PKGS.split(), text=True).split()
    libs = subprocess.check_output(
        ["pkg-config", "--libs"] + PKGS.split(), text=True).split()
    os.makedirs(os.path.dirname(TOOL), exist_ok=True)
    cmd = (["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-g", "-Ishared",
            "-Idaemon", "-pthread"] + cflags + ["-o", TOOL] + srcs + libs +
           ["-lmagic", "-larchive"])
    subprocess.run(cmd, cwd=ROOT, check=True)


def run(args, paths):
    cmd = [TOOL, "-S", str(args.score_set), "-j", str(args.threads)]
    if not args.no_hyperscan:
        cmd.append("-H")
    for r in args.rules:
        cmd += ["-r", r]
    if args.system:
        cmd += ["-r", "/usr/share/spamassassin"]
    p = subprocess.run(cmd + paths, capture_output=True, text=True,
                       check=True, errors="replace")
    out = {}
    for line in p.stdout.splitlines():
        path, score, rules = line.split("\t")
        out[path] = (float(score), rules.split())
    return out, p.stderr.strip()


def fit_caps(dirs):
    """The "# fit-max RULE N" lines of the rule files."""
    caps = {}
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if not name.endswith(".cf"):
                continue
            with open(os.path.join(d, name), errors="replace") as f:
                for line in f:
                    w = line.split()
                    if len(w) == 4 and w[0] == "#" and w[1] == "fit-max":
                        caps[w[2]] = float(w[3])
    return caps


def fit(rows, names, args, iters=3000):
    """rows: list of (is_spam, [rule index...]). Returns scores."""
    n = len(names)
    hi = [min(args.max_score, args.caps.get(r, args.max_score))
          for r in names]
    w = [1.0] * n
    m = [0.0] * n
    v = [0.0] * n
    lr, b1, b2, eps, lam = 0.05, 0.9, 0.999, 1e-8, args.l2
    nspam = sum(1 for y, _ in rows if y) or 1
    nham = (len(rows) - nspam) or 1
    for t in range(1, iters + 1):
        g = [lam * (wi - 1.0) for wi in w]
        for y, hits in rows:
            z = sum(w[i] for i in hits) - args.threshold
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            if y:
                d = (p - 1.0) / nspam
            else:
                d = args.ham_weight * p / nham
            for i in hits:
                g[i] += d
        for i in range(n):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            mh = m[i] / (1 - b1 ** t)
            vh = v[i] / (1 - b2 ** t)
            w[i] -= lr * mh / (math.sqrt(vh) + eps)
            w[i] = min(hi[i], max(0.1, w[i]))
    return [round(x, 1) for x in w]


def measure(rows, w, t):
    tp = fp = ns = nh = 0
    for y, hits in rows:
        s = sum(w[i] for i in hits)
        if y:
            ns += 1
            tp += s >= t
        else:
            nh += 1
            fp += s >= t
    return tp, ns, fp, nh


def do_fit(args, ham, spam):
    names = sorted({r for _, rules in list(ham.values()) +
                    list(spam.values()) for r in rules})
    idx = {r: i for i, r in enumerate(names)}
    rows = ([(1, [idx[r] for r in rules]) for _, rules in spam.values()] +
            [(0, [idx[r] for r in rules]) for _, rules in ham.values()])
    random.Random(1).shuffle(rows)
    half = len(rows) // 2
    tot = [0, 0, 0, 0]
    for train, test in ((rows[:half], rows[half:]),
                        (rows[half:], rows[:half])):
        w = fit(train, names, args)
        for k, x in enumerate(measure(test, w, args.threshold)):
            tot[k] += x
    print("2-fold cross-validation: spam recall %.2f%% (%d/%d), ham false "
          "positives %.2f%% (%d/%d)" % (100.0 * tot[0] / max(1, tot[1]),
                                        tot[0], tot[1],
                                        100.0 * tot[2] / max(1, tot[3]),
                                        tot[2], tot[3]))
    w = fit(rows, names, args)
    tp, ns, fp, nh = measure(rows, w, args.threshold)
    print("fitted on all: spam recall %.2f%% (%d/%d), ham false positives "
          "%.2f%% (%d/%d)" % (100.0 * tp / ns, tp, ns, 100.0 * fp / nh, fp,
                              nh))
    with open(args.fit, "w") as f:
        f.write("# Moat spam rules: scores, fitted by tests/quality/"
                "rules_eval.py --fit\n# (logistic model, ham weight %g, "
                "scores in [0.1, %g], pulled to 1.0 by %g).\n"
                % (args.ham_weight, args.max_score, args.l2))
        for r in names:
            f.write("score %-28s %.1f\n" % (r, w[idx[r]]))
    print("scores written to %s" % args.fit)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("--rules", action="append")
    ap.add_argument("--system", action="store_true",
                    help="also load /usr/share/spamassassin")
    ap.add_argument("--threshold", type=float, default=5.0)
    ap.add_argument("--score-set", type=int, default=0)
    ap.add_argument("--no-hyperscan", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-rule", action="store_true")
    ap.add_argument("--misses", type=int, default=0)
    ap.add_argument("--fps", type=int, default=0)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--fit", metavar="SCORES.cf")
    ap.add_argument("--ham-weight", type=float, default=20.0)
    ap.add_argument("--max-score", type=float, default=4.0)
    ap.add_argument("--l2", type=float, default=0.002)
    args = ap.parse_args()
    if not args.rules:
        args.rules = [os.path.join(ROOT, "rules.d", "spam")]
    if not args.no_build:
        build()
    tmp = None
    args.caps = fit_caps(args.rules)
    if args.fit:
        # Every rule at its default score: copy the rules without scores.
        tmp = tempfile.mkdtemp(prefix="moat-fit-")
        for i, d in enumerate(args.rules):
            dst = os.path.join(tmp, str(i))
            os.mkdir(dst)
            for name in os.listdir(d):
                if name.endswith(".cf") and not name.endswith("scores.cf"):
                    shutil.copy(os.path.join(d, name), dst)
        args.rules = [os.path.join(tmp, str(i))
                      for i in range(len(args.rules))]

    ham, ham_log = run(args, [os.path.join(args.corpus, "ham")])
    spam, spam_log = run(args, [os.path.join(args.corpus, "spam")])
    if tmp is not None:
        shutil.rmtree(tmp)
        do_fit(args, ham, spam)
        return 0
    t = args.threshold
    tp = sum(1 for s, _ in spam.values() if s >= t)
    fp = sum(1 for s, _ in ham.values() if s >= t)
    print("rules: %s%s, score set %d, threshold %.1f" % (
        " ".join(args.rules), " + system" if args.system else "",
        args.score_set, t))
    print("spam recall %.2f%% (%d/%d), ham false positives %.2f%% (%d/%d)"
          % (100.0 * tp / max(1, len(spam)), tp, len(spam),
             100.0 * fp / max(1, len(ham)), fp, len(ham)))
    print("ham: " + ham_log.splitlines()[-1])
    print("spam: " + spam_log.splitlines()[-1])

    if args.per_rule:
        hits = {}
        for kind, res in (("spam", spam), ("ham", ham)):
            for _, rules in res.values():
                for r in rules:
                    hits.setdefault(r, {"spam": 0, "ham": 0})[kind] += 1
        print("%-28s %6s %6s %6s" % ("rule", "spam%", "ham%", "S/O"))
        for r, h in sorted(hits.items(), key=lambda x: -x[1]["spam"]):
            s = 100.0 * h["spam"] / max(1, len(spam))
            hm = 100.0 * h["ham"] / max(1, len(ham))
            so = s / (s + hm) if s + hm else 0
            print("%-28s %6.2f %6.2f %6.3f" % (r, s, hm, so))
    if args.misses:
        miss = sorted(((s, p, r) for p, (s, r) in spam.items() if s < t))
        for s, p, r in miss[:args.misses]:
            print("miss %6.2f %s %s" % (s, os.path.basename(p), " ".join(r)))
    if args.fps:
        fps = sorted(((s, p, r) for p, (s, r) in ham.items() if s >= t),
                     reverse=True)
        for s, p, r in fps[:args.fps]:
            print("fp %6.2f %s %s" % (s, os.path.basename(p), " ".join(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
