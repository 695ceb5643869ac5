#!/usr/bin/python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (except sparkplug_command, whose seeds
were written by hand). Every seed is a small, valid input taken from the project's own examples
and unit tests, laid out the way the target's *_fuzz.cpp reads its input (prefix bytes,
"A\\nB\\nC" or "A\\0B" layouts). Deterministic: running it again gives the same files.

    /usr/bin/python3 tests/fuzz/make_seeds.py

Limits checked here: each seed < 4 KB (store_file: < 8 KB, see store_seeds()), the whole
corpus directory < 200 KB.
"""
import os
import shutil
import sqlite3
import struct
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MAX_SEED = 4096
MAX_STORE_SEED = 8192  # see store_seeds()
MAX_TOTAL = 200 * 1024


def src(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def strip_comments(data):
    """Drops whole-line comments and blank lines (keeps keys, tables and values as written)."""
    out = []
    for line in data.decode().splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        out.append(line)
    return ("\n".join(out) + "\n").encode()


GATEWAY = b'[gateway]\nid = "fuzz-gw"\ndata_dir = "/tmp/processnow-fuzz"\n\n'


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        limit = MAX_STORE_SEED if target == "store_file" else MAX_SEED
        assert 0 < len(data) < limit, (target, name, len(data))
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


# --- config: whole gateway config files ------------------------------------------------------
def config_seeds():
    s = {"demo.toml": strip_comments(src("config/demo.toml"))}
    for case in ["valid", "deprecated_keys", "driver_errors", "wrong_types", "unknown_table"]:
        s["testcase_" + case + ".toml"] = src("tests/unit/config/testcases/%s/config.toml" % case)
    for drv in ["modbus", "mqtt", "serial", "sim"]:
        s["driver_%s_example.toml" % drv] = GATEWAY + strip_comments(
            src("drivers/%s/example.toml" % drv))
    for up in ["file", "mqtt", "kafka", "sparkplug"]:
        s["upstream_%s_example.toml" % up] = GATEWAY + strip_comments(
            src("gateway/upstream/%s/example.toml" % up))
    s["store_health_example.toml"] = GATEWAY + strip_comments(
        src("gateway/store/example.toml")) + strip_comments(src("gateway/health/example.toml"))
    return s


# --- kafka_config: byte 0 % 3 picks a prefix (0: none, 1: bootstrap + [properties], 2: bootstrap)
def kafka_seeds():
    return {
        # 0: the whole upstream table, as in gateway/upstream/kafka/example.toml
        # (its keys without the table header and the common "type" key, as the target validates
        # the table's own spec only)
        "p0_example": b"\x00" + strip_comments(src("gateway/upstream/kafka/example.toml"))
        .replace(b"[upstreams.lake]\n", b"").replace(b'type = "kafka"\n', b""),
        "p0_topics": b"\x00" + b'bootstrap_servers = ["b:9092"]\ntopic = "{gateway}.readings"\n'
        b'event_topic = "{gateway}.events"\nclient_id = "processnow-{gateway}"\n',
        "p0_properties_errors": b"\x00" + b'bootstrap_servers = ["127.0.0.1:9"]\n[properties]\n'
        b'"linger.ms" = 20\nbatch.num.messages = 5000\n"no.such.property" = 1\n'
        b'"queue.buffering.max.kbytes" = "lots"\nacks = 1\n'
        b'"sasl.oauthbearer.client.secret" = "x"\n"statistics.interval.ms" = [1, 2]\n',
        # 1: properties only
        "p1_properties": b"\x01" + b'"linger.ms" = 20\nbatch.num.messages = 5000\n'
        b'"reconnect.backoff.max.ms" = 500\n"message.max.bytes" = 2000\n',
        "p1_compression": b"\x01" + b'"compression.codec" = "lz4"\n"enable.idempotence" = true\n',
        # 2: more upstream keys after bootstrap_servers
        "p2_sasl": b"\x02" + b'security_protocol = "sasl_ssl"\nsasl_mechanism = "SCRAM-SHA-512"\n'
        b'sasl_username = "gw"\npassword_env = "PN_KAFKA_PASSWORD"\n',
        "p2_tls": b"\x02" + b'security_protocol = "ssl"\ntls_ca_file = "/nonexistent/ca.pem"\n'
        b'tls_cert_file = "/etc/hostname"\n',
        "p2_batching": b"\x02" + b'compression = "lz4"\ndelivery_timeout_ms = 1500\n'
        b'batch_records = 1000\ntopic = "{site}.readings"\nevent_topic = "plant events"\n',
    }


# --- modbus_decode: byte 0 % 10 = type, byte 1 % 4 = order, then big-endian registers --------
BOOL, I16, U16, I32, U32, I64, U64, F32, F64, STR = range(10)
ABCD, DCBA, BADC, CDAB = range(4)


def regs(*values):
    return b"".join(struct.pack(">H", v) for v in values)


def modbus_decode_seeds():
    f32 = struct.pack(">f", 21.5)  # temperature, float32 ABCD (example.toml)
    f64 = struct.pack(">d", -1234.5678)
    return {
        "float32_abcd_21.5": bytes([F32, ABCD]) + f32,
        "float32_cdab": bytes([F32, CDAB]) + f32[2:] + f32[:2],
        "float64_dcba": bytes([F64, DCBA]) + f64[::-1],
        "int16_pressure": bytes([I16, ABCD]) + regs(0xFF9C),  # -100 * 0.1 bar
        "uint16": bytes([U16, BADC]) + regs(0x3412),
        "int32_badc": bytes([I32, BADC]) + regs(0xFFFF, 0x85EE),
        "uint32": bytes([U32, ABCD]) + regs(0x0001, 0x86A0),
        "uint64_energy_cdab": bytes([U64, CDAB]) + regs(0x5678, 0x1234, 0x0000, 0x0000),
        "int64": bytes([I64, ABCD]) + regs(0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE),
        "bool": bytes([BOOL, ABCD]) + regs(0x0001),
        "string_serial": bytes([STR, ABCD]) + b"PN-4711\x00",
        "string_badc": bytes([STR, BADC]) + b"NP4-171\x00",
    }


# --- modbus_planner: 4 limit bytes, then 4 bytes per tag (unit*... table, address hi/lo, count)
COIL, DISCRETE, HOLDING, INPUT = range(4)


def tag(unit, table, address, count):
    return bytes([table * 3 + unit, address >> 8, address & 0xFF, count - 1])


def modbus_planner_seeds():
    # drivers/modbus/example.toml: boiler float32 @0, int16 @2, coil @0, discrete @4; meter
    # (unit 2) uint64 input @100.
    example = (tag(1, HOLDING, 0, 2) + tag(1, HOLDING, 2, 1) + tag(2, INPUT, 100, 4) +
               tag(1, COIL, 0, 1) + tag(1, DISCRETE, 4, 1))
    dense = b"".join(tag(0, HOLDING, a, 2) for a in range(0, 64, 2))
    sparse = b"".join(tag(0, INPUT, a, 1) for a in (0, 10, 50, 51, 200, 1000, 40000, 65535))
    coils = b"".join(tag(1, COIL, a, 1) for a in range(0, 2000, 37))
    return {
        "example_map": bytes([124, 250, 10, 64]) + example,
        "dense_holding_small_reads": bytes([15, 1, 0, 0]) + dense,
        "sparse_input_gap_39": bytes([124, 250, 39, 255]) + sparse,
        "coils_max_bits_8": bytes([124, 0, 5, 16]) + coils,
        "top_of_address_space": bytes([3, 7, 2, 1]) + tag(0, HOLDING, 65534, 2) +
        tag(0, HOLDING, 65532, 2) + tag(2, INPUT, 65535, 1),
    }


# --- mqtt_encoding: topic template, NUL, record body (as the store holds it) -----------------
def mqtt_encoding_seeds():
    # Bodies exactly as ToRecord (core/record.cpp) writes them, values from
    # tests/unit/upstream/mqtt/mqtt_encoding_test.cpp.
    reading = (b'{"type":"reading","ts_ns":1700000000000000000,"device":"pump-1",'
               b'"series":"temperature","value":21.5,"unit":"degC","quality":"good"}')
    event = (b'{"type":"event","ts_ns":1700000000000000001,"device":"pump-2",'
             b'"series":"temperature","rule":"too hot","kind":"alarm","value":131.5,'
             b'"score":0.9,"severity":"critical","message":"above \\"90\\"\\nfor 3 readings"}')
    return {
        "default_reading": b"{gateway}/{device}/{series}/{kind}\x00" + reading,
        "all_placeholders_event":
            b"plants/{gateway}/{upstream}/{device}/{series}/{type}/{kind}\x00" + event,
        "braces_reading": b"a{{b}}/{device}\x00" + reading,
        "influx_fixed_topic": b"{gateway}/influx\x00" + reading,
        "not_json_body": b"{gateway}/{type}/{kind}/{device}\x00{not json",
        "bad_template": b"{gateway}/{sensor}\x00" + reading,
    }


# --- mqtt_json: JSON payloads (drivers/mqtt/testcases, payload_parsers_test) ------------------
def mqtt_json_seeds():
    return {
        "value_ts": b'{"v": 64.7, "ts": 1767225600123}',
        "single_mapping": b'{"id": "room-1", "name": "flow", "v": 3, "ts": 1767225600000}',
        "several_series": b'{"id": "room-1", "temp": 21.5, "env": {"rh": 40}, "battery": 3.1, '
                          b'"t": 1767225660}',
        "pointer_fields": b'{"a": 1.5, "x": [{"b": 2}], "y/z": 3, "t": 1767225661.5}',
        "array": b'[{"a": 1, "t": 1}, {"a": 2, "t": 2}]',
        "bool_and_null": b'{"v": true, "a": null, "b": false}',
        "string_value": b'{"id": "room-2", "temp": "n/a"}',
        "truncated": b'{"id": "room-2"',
        "escapes": b'{"id": "r\\u00f6\\"om", "name": "s\\/1", "v": -1.5e-3}',
    }


# --- mqtt_line_protocol ----------------------------------------------------------------------
def mqtt_lp_seeds():
    return {
        "telegraf_batch": b"cpu,host=box-1 usage_idle=97.5,usage_user=1.25 1767225600000\n"
                          b"cpu,host=box-2 usage_idle=50i 1767225601000",
        "string_field": b'mem used_percent=42.0,state="ok"',
        "escapes_and_types": b'env,site=a\\ b,device=r\\,1 on=t,off=F,count=7u,label="a, b=c"',
        "comments_crlf": b"# comment\n\nenv a=1 10\r\nenv b=2 20\n",
        "nanoseconds": b"env,device=room-1 temp=21.5,hum=40i 1767225600000000000",
        "bad_number": b"env a=1\nenv b=",
    }


# --- mqtt_topic: TEMPLATE \n TOPIC \n PAYLOAD --------------------------------------------------
def mqtt_topic_seeds():
    return {
        "device_series": b"plant/{device}/{series}\nplant/pump-1/temperature\n21.5",
        "plus_hash": b"site/+/{device}/#\nsite/a/pump/x/y\n 5.25 ",
        "fixed_series": b"tank/{device}/level\ntank/t1/level\n0.75",
        "hash_only": b"#\nany/thing\n1",
        "second_template": b"+/{series}/#\nline1/flow/a/b\n-3e2",
        "not_a_number": b"plant/{device}/{series}\nplant/pump-1/temperature\nhot",
        "bad_template": b"a/#/b\nplant/pump-1\n1",
    }


# --- replay_csv: the CSV file; byte 0 even -> device column "unit" ----------------------------
def replay_seeds():
    return {
        "comma_iso_times.csv": b"timestamp,temp,pressure\n2014-04-01 00:00:00,70,1.0\n"
                               b"2014-04-01 00:05:00,81.5,1.1\n"
                               b"2014-04-01T00:10:00.250,90,1.2\n",
        "semicolon.csv": b"id;datetime;temp\na;2020-03-09 10:14:33;85\n"
                         b"b;2020-03-09 10:14:34;oops\n",
        "quoted.csv": b'"time","temp","note, with comma"\n"2014-04-01 00:00:00","90","a, b"\n',
        # 't' is even: the device column "unit" is used
        "whitespace_unit_column.txt": b"time unit temp\n1 1 70\n1 2 90\n2.5 1 95\n",
        "comma_unit_column.csv": b"ts,unit,temp,pressure\n2014-04-01T00:00:00Z,pump-1,70,1.0\n"
                                 b"2014-04-01T00:00:01Z,pump-2,95,1.1\n",
        "bom_crlf.csv": b"\xef\xbb\xbftime,temp\r\n1396310400000,12\r\n1396310401000,\r\n",
        "short_row.csv": b"t,temp\n1,2\n3\n",
    }


# --- rules: rule files ------------------------------------------------------------------------
def rules_seeds():
    s = {
        "demo.toml": strip_comments(src("config/rules.d/demo.toml")),
        "example.toml": strip_comments(src("rules/example.toml")),
        "skab_hotelling.toml": strip_comments(src("config/eval/skab.toml")),
        "nab.toml": strip_comments(src("config/eval/nab.toml")),
        "cmapss.toml": strip_comments(src("config/eval/cmapss.toml")),
    }
    for det in ["cusum", "ensemble", "ewma", "knn", "mad", "zscore", "hotelling"]:
        s["detector_%s.toml" % det] = strip_comments(src("rules/detectors/%s/example.toml" % det))
    s["derive_expression.toml"] = (
        b'[[derive]]\nname = "power_w"\nexpr = "power_kw * 1000"\n\n'
        b'[[derive]]\nname = "power_kw"\nexpr = "voltage * current / 1000"\nunit = "kW"\n\n'
        b'[[rule]]\nname = "overload"\nseries = ["power_*"]\n[rule.detector]\n'
        b'type = "threshold"\nabove = 2.0\n')
    s["validate_report.toml"] = (
        b'[[rule]]\nname = "v"\n[rule.validate]\nmin = 0.0\nmax = 100.0\nmax_rate_per_s = 10.0\n'
        b'stale_after_ms = 5000\n[rule.detector]\ntype = "threshold"\nabove = 50.0\n'
        b'[rule.alarm]\nraise_after = 2\n[rule.report]\ndeadband = 0.5\nmax_silence_ms = 10000\n')
    return s


# --- serial parsers: one line each -------------------------------------------------------------
def serial_csv_seeds():
    return {
        "comma_4_cols": b"7,1013.25,0.42,OK",
        "comma_empty_cell": b"7,,0.40,OK",
        "semicolon": b"21.5;1013.30;0.41",
        "quoted": b'"7","-1.5e3","0.39",""',
        "short_row": b"7,1013.35",
    }


def serial_kv_seeds():
    return {
        "colon_keys": b"T:21.5 P:1013 ID:A7",
        "colon_missing": b"T:-- P:1013",
        "equals": b"T=21.50 RH=40.1 H=55",
        "mixed": b"T=21.7 H:40.3 P=1012.5",
        "noise": b"noise",
    }


def serial_nmea_seeds():
    # Byte 0 odd: the rest gets "$" and a correct checksum; even ("$" is 0x24): parsed as is.
    return {
        "gga_checksum": b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
        "mtw_bad_checksum": b"$YXMTW,17.5,C*00",
        "gsv_checksum": b"$GPGSV,3,1,11,03,03,111,00*4A",
        "mtw_no_checksum": b"$YXMTW,17.5,C",
        "odd_gga": b"!GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,",
        "odd_rmc": b"!GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W",
        "odd_mtw": b"!YXMTW,17.5,C",
        "odd_vtg": b"!GPVTG,054.7,T,034.4,M,005.5,N,010.2,K",
    }


def serial_regex_seeds():
    # PATTERN \n LINE; the whole input is also a line for the fixed pattern.
    return {
        "named_groups": b"^T=(?<temperature>-?[0-9.]+)C RH=(?<humidity>[0-9.]+)%$\n"
                        b"T=21.50C RH=40.1%",
        "unnamed_groups": b"(\\d+);([-\\d.]+);([-\\d.]+)\n7;1013.25;0.42",
        "optional_group": b"^a=(?<a>\\d+)(?: b=(?<b>\\d+))?$\na=1 b=2",
        "fixed_pattern_line": b"21.5 degC,40.1 extra",
        "backtracking": b"^(?<v>(a+)+)b$\naaaaaaaaaaaaaaaaaaaaaaaaaaaaac",
    }


def serial_framer_seeds():
    # Byte 0: terminator = b & 3 ("\n", "\r\n", "\r", "*\x03"), chunk = 1 + (b >> 2).
    kv = src("drivers/serial/testcases/kv_selected_keys/input.txt")
    nmea = src("drivers/serial/testcases/nmea_checksums/input.txt")
    return {
        "lf_chunk1": bytes([0 | (0 << 2)]) + kv,
        "crlf_chunk8": bytes([1 | (7 << 2)]) + kv.replace(b"\n", b"\r\n"),
        "cr_chunk64": bytes([2 | (63 << 2)]) + nmea.replace(b"\n", b"\r"),
        "star_etx_chunk3": bytes([3 | (2 << 2)]) + b"\x02T=21.5*\x03\x02T=21.6*\x03\x02noise",
        "lf_overlong_line": bytes([0 | (4 << 2)]) + b"x" * 100 + b"\nT:21.5\n",
    }


# --- store_file: a database file the store did not write ---------------------------------------
def store_seeds():
    tmp = tempfile.mkdtemp(prefix="pn-store-seeds-")
    try:
        def repaged(path):
            c = sqlite3.connect(path, isolation_level=None)
            c.execute("PRAGMA journal_mode=DELETE")
            c.execute("PRAGMA page_size=512")
            c.execute("VACUUM")
            c.close()
            with open(path, "rb") as f:
                return f.read()

        # The v1 fixture of the store tests (tests/unit/store/fixtures/store_v1.db: records
        # 7-12, two cursors, drop counters, boot id), rewritten with 512-byte pages (SQLite's
        # smallest) so that it is 6 KB instead of 28 KB. A store file has five b-trees plus the
        # schema, so even an empty one is more than 4 KB: store_file is the one target whose
        # seeds may reach MAX_STORE_SEED.
        v1 = os.path.join(tmp, "v1.db")
        shutil.copy(os.path.join(ROOT, "tests/unit/store/fixtures/store_v1.db"), v1)
        v1_data = repaged(v1)

        # A fresh store: the store's own schema, no records.
        empty = os.path.join(tmp, "empty.db")
        c = sqlite3.connect(empty, isolation_level=None)
        c.executescript("""
          PRAGMA auto_vacuum = INCREMENTAL;
          CREATE TABLE records(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL,
            ts_ns INTEGER NOT NULL, device TEXT NOT NULL, series TEXT NOT NULL,
            body TEXT NOT NULL);
          CREATE TABLE cursors(upstream TEXT PRIMARY KEY, acked INTEGER NOT NULL);
          CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
          PRAGMA user_version = 1;
          INSERT INTO meta(key, value) VALUES('last_seq', 0);
        """)
        c.close()
        empty_data = repaged(empty)

        # Another program's database (user_version 0, one table).
        foreign = os.path.join(tmp, "foreign.db")
        c = sqlite3.connect(foreign, isolation_level=None)
        c.executescript("CREATE TABLE t(x); INSERT INTO t VALUES(1);")
        c.close()
        foreign_data = repaged(foreign)

        # A newer schema version.
        newer = os.path.join(tmp, "newer.db")
        shutil.copy(empty, newer)
        c = sqlite3.connect(newer, isolation_level=None)
        c.execute("PRAGMA user_version = 2")
        c.close()
        with open(newer, "rb") as f:
            newer_data = f.read()
    finally:
        shutil.rmtree(tmp)
    return {
        "store_v1_fixture_p512.db": v1_data,
        "empty_store_p512.db": empty_data,
        "foreign_db_p512.db": foreign_data,
        "newer_version_p512.db": newer_data,
        "truncated_v1.db": v1_data[:1024],
        "not_sqlite.db": b"SQLite format 2\x00" + b"this is not a database\n" * 4,
    }


def main():
    write("config", config_seeds())
    write("kafka_config", kafka_seeds())
    write("modbus_decode", modbus_decode_seeds())
    write("modbus_planner", modbus_planner_seeds())
    write("mqtt_encoding", mqtt_encoding_seeds())
    write("mqtt_json", mqtt_json_seeds())
    write("mqtt_line_protocol", mqtt_lp_seeds())
    write("mqtt_topic", mqtt_topic_seeds())
    write("replay_csv", replay_seeds())
    write("rules", rules_seeds())
    write("serial_csv", serial_csv_seeds())
    write("serial_kv", serial_kv_seeds())
    write("serial_nmea", serial_nmea_seeds())
    write("serial_regex", serial_regex_seeds())
    write("serial_framer", serial_framer_seeds())
    write("store_file", store_seeds())
    total = 0
    for dirpath, _, files in os.walk(CORPUS):
        for name in files:
            total += os.path.getsize(os.path.join(dirpath, name))
    print("corpus: %d bytes" % total)
    if total >= MAX_TOTAL:
        sys.exit("corpus too large")


if __name__ == "__main__":
    main()
