"""`netinspect review FILE...`: every TCP connection, UDP flow and ICMP message in captures."""

from __future__ import annotations

SUMMARY = ("review pcap/pcapng captures (or .gz of either): one row per TCP connection and UDP flow, "
           "how each opened and ended, findings, and a ladder for any one connection")
EXAMPLES = [
    "netinspect review captures/scenarios.pcap",
    "netinspect review captures/scenarios.pcap --conn 0          # ladder of connection 0",
    "netinspect review big.pcap.gz --port 443 --explain",
    "netinspect review day/*.pcap --jobs 2 --jsonl > conn.jsonl   # one JSON record per connection",
]

PROGRESS_MIN_BYTES = 16 * 1024 * 1024


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="pcap, pcapng, or .gz of either")
    parser.add_argument("--conn", type=_conn_number, metavar="N", help="draw the ladder of connection N (the # column)")
    parser.add_argument("--host", type=_host, metavar="IP", help="only connections with an endpoint at this address")
    parser.add_argument("--port", type=_port, metavar="PORT", help="only connections with an endpoint on this port (with --host: that address and this port on one endpoint)")
    parser.add_argument("--explain", action="store_true", help="a plain sentence per connection and the whole conn_state legend")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--jsonl", action="store_true", help="one JSON record per connection or UDP flow, one per line")
    out.add_argument("--csv", action="store_true", help="CSV with a header row, one row per connection or UDP flow")
    parser.add_argument("--jobs", type=_jobs, default=0, metavar="N|auto",
                        help="worker processes: several files are reviewed N at a time; one large file "
                             "(8 MB or more, not gzip) has its connections split across N workers. "
                             "auto (the default): two workers for one large file on a multi-core machine, "
                             "one process otherwise")
    parser.add_argument("--ascii", action="store_true", help="ASCII arrows in the ladder")
    from netinspect.cli import review_link  # cast summary and ARP exchanges (SPEC 1.7)
    review_link.add_arguments(parser)


def _conn_number(text: str) -> int:
    from netinspect.core.errors import BadInput
    # ASCII digits only: int() would also take ' 3', '+3', '3_0' and '３'.
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise BadInput(f"--conn {text!r}: expected a connection number (0, 1, 2, ... as in the # column)")
    return int(text)


def _host(text: str) -> str:
    import ipaddress
    from netinspect.core.errors import BadInput
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise BadInput(f"--host {text!r}: expected an IPv4 or IPv6 address, e.g. 10.0.0.1 or fd00::1") from None


def _port(text: str) -> int:
    from netinspect.core.errors import BadInput
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 0 <= int(text) <= 65535:
        raise BadInput(f"--port {text!r}: expected a port number from 0 to 65535 in ASCII digits")
    return int(text)


def _jobs(text: str) -> int:
    """A number of processes, or 0 for auto."""
    from netinspect.core.errors import BadInput
    if text == "auto":
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 2 or not 1 <= int(text) <= 64:
        raise BadInput(f"--jobs {text!r}: expected auto or a number of processes from 1 to 64")
    return int(text)


def run(args, env) -> int:
    import gc

    from netinspect.adapters.review_pipeline import ReviewOptions

    options = ReviewOptions(host=args.host, port=args.port, conn=args.conn)
    # Millions of short-lived records: collect young objects every 50,000 allocations
    # rather than every 700 (about 8% of the run time on a large capture). The records
    # hold no reference cycles, so memory stays bounded all the same.
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        return _run(args, env, options)
    finally:
        gc.set_threshold(*thresholds)


def _run(args, env, options) -> int:
    from netinspect.core.errors import EXIT_BAD_INPUT, EXIT_FAILURE, CaptureFileError, NetinspectError

    sink = _make_sink(args, env)
    status = 0
    single = len(args.files) == 1
    for path, outcome in _reviews(args, env, options, sink):
        if isinstance(outcome, NetinspectError):
            if single:
                raise outcome
            # Several files: say what is wrong with this one and go on with the others.
            env.err(f"netinspect: {outcome.message}")
            status = max(status, outcome.exit_status)
            continue
        summary = outcome
        if summary.damage is not None:
            offset, reason = summary.damage
            env.err(f"netinspect: {CaptureFileError(summary.path, offset, reason).message}")
            status = max(status, EXIT_FAILURE)
    sink.close()
    if args.conn is not None and not sink.found_ladder:
        from netinspect.core.errors import BadInput
        counts = ", ".join(f"{p}: {n} TCP connection{'' if n == 1 else 's'}" for p, n in sink.counts)
        raise BadInput(f"--conn {args.conn}: no such connection ({counts}; numbered from 0)")
    return EXIT_BAD_INPUT if status == EXIT_BAD_INPUT else status


def _reviews(args, env, options, sink):
    """(path, FileSummary or NetinspectError) per file, after feeding the sink its items."""
    from netinspect.core.errors import NetinspectError

    if args.jobs > 1 and len(args.files) > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(min(args.jobs, len(args.files))) as pool:
            for path, result in zip(args.files, pool.imap(_job, [(p, options) for p in args.files])):
                if isinstance(result, tuple):
                    yield path, _rebuild_error(*result)
                    continue
                sink.start(result.summary)
                for record in result.records:
                    sink.record(record)
                _link_sections(path, result.summary, args, env)
                sink.end(result.summary)
                yield path, result.summary
        return
    for path in args.files:
        bar = _progress_bar(env, path)
        try:
            items = _stream(path, options, bar, _shards(path, args))
            for item in items:
                kind = item.__class__.__name__
                if kind == "ConnRecord":
                    sink.record(item)
                elif kind == "FileStart":
                    sink.start(item)
                else:
                    if bar is not None:
                        bar.close()
                        bar = None
                    _link_sections(path, item, args, env)
                    sink.end(item)
                    yield path, item
        except NetinspectError as error:
            yield path, error
        finally:
            if bar is not None:
                bar.close()


def _link_sections(path, summary, args, env):
    """Cast summary and ARP exchanges (cli/review_link.py), only where a summary is printed."""
    if args.conn is None and not args.jsonl and not args.csv:
        from netinspect.cli import review_link
        review_link.augment(path, summary, args, env.color)


def _shards(path, args) -> int:
    """Worker processes for one file: its flows are split across them (adapters/review_shards)."""
    if args.conn is not None:
        return 1          # the ladder keeps one connection's segments: one process
    if args.jobs == 0:
        from netinspect.adapters.review_shards import auto_jobs
        return auto_jobs(path)
    return args.jobs


def _stream(path, options, bar, shards=1):
    from netinspect.adapters.review_pipeline import stream_file
    progress = None
    if bar is not None:
        def progress(done, total):
            bar.update(max(0, done - bar.n))
    if shards > 1:
        from netinspect.adapters.review_shards import stream_sharded
        return stream_sharded(path, options, shards, progress)
    return stream_file(path, options, progress)


def _job(job):
    """Worker: the pure per-file function; errors come back as plain tuples (they pickle)."""
    from netinspect.adapters.review_pipeline import review_file
    from netinspect.core.errors import NetinspectError
    path, options = job
    try:
        return review_file(path, options)
    except NetinspectError as error:
        return (error.exit_status, error.message)


def _rebuild_error(exit_status, message):
    from netinspect.core.errors import BadInput, RuntimeFailure
    return (BadInput if exit_status == 2 else RuntimeFailure)(message)


def _progress_bar(env, path):
    """tqdm on stderr, only on a terminal and only for a large input."""
    import os
    if not env.stderr_isatty:
        return None
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    if size < PROGRESS_MIN_BYTES:
        return None
    from tqdm import tqdm
    return tqdm(total=size, unit="B", unit_scale=True, desc=os.path.basename(path), file=env.stderr,
                leave=False, dynamic_ncols=True)


def _make_sink(args, env):
    from netinspect.cli import review_sinks
    if args.conn is not None and (args.jsonl or args.csv):
        from netinspect.core.errors import BadInput
        raise BadInput(f"--conn draws one connection's ladder, which --{'jsonl' if args.jsonl else 'csv'} cannot hold; "
                       "accepted: --conn N alone (text) or with --json, or --jsonl/--csv without --conn")
    if args.conn is not None:
        sink = review_sinks.LadderSink(env, args)
    elif args.jsonl:
        sink = review_sinks.JsonlSink(env, args)
    elif args.csv:
        sink = review_sinks.CsvSink(env, args)
    elif args.json:
        sink = review_sinks.JsonSink(env, args)
    else:
        sink = review_sinks.TextSink(env, args)
    return sink
