// The serial line parsers as pure functions: regex, csv, kv, nmea, and ParseNumber.
#include "drivers/serial/line_parsers.h"

#include <doctest/doctest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

namespace pn::serial {
namespace {

std::unique_ptr<LineParser> Must(Result<std::unique_ptr<LineParser>> r) {
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
  return std::move(*r);
}

// "series=value unit" per field, or "error: reason".
std::string Run(const LineParser& p, std::string_view line) {
  std::vector<Field> out;
  Status st = p.Parse(line, out);
  if (!st.ok()) {
    CHECK(out.empty());
    return "error: " + st.message();
  }
  std::string s;
  char buf[64];
  for (const auto& f : out) {
    std::snprintf(buf, sizeof buf, "%.6g", f.value);
    if (!s.empty()) s += "; ";
    s += f.series + "=" + buf + (f.unit.empty() ? "" : " " + f.unit);
  }
  return s;
}

// Appends "*hh" to "$body" with the right checksum.
std::string Nmea(std::string_view body) {
  char cs[8];
  std::snprintf(cs, sizeof cs, "*%02X", NmeaChecksum(body));
  return "$" + std::string(body) + cs;
}

}  // namespace

TEST_CASE("ParseNumber: accepts decimal numbers with spaces and sign, rejects everything else") {
  CHECK(ParseNumber("21.5") == 21.5);
  CHECK(ParseNumber(" -3 ") == -3.0);
  CHECK(ParseNumber("+1e3") == 1000.0);
  CHECK(ParseNumber(".5") == 0.5);
  for (const char* bad :
       {"", " ", "abc", "1.5x", "inf", "nan", "-inf", "0x10", "1,5", "+", "--1", "1e999"}) {
    INFO(bad);
    CHECK_FALSE(ParseNumber(bad).has_value());
  }
}

TEST_CASE("regex parser: named groups become series") {
  auto p = Must(MakeRegexParser(R"(^T=(?<temperature>[-0-9.]+) H=(?<humidity>[0-9.]+)$)", {}));
  CHECK(Run(*p, "T=21.5 H=40") == "temperature=21.5; humidity=40");
  CHECK(Run(*p, "T=21.5 H=40 extra") == "error: no match");
  CHECK(Run(*p, "garbage") == "error: no match");
}

TEST_CASE("regex parser: unnamed groups are named by the series list, \"\" skips one") {
  auto p = Must(MakeRegexParser(R"((\d+);([-\d.]+);([-\d.]+))", {"", "pressure", "level"}));
  CHECK(Run(*p, "id 7;1013.2;-0.5") == "pressure=1013.2; level=-0.5");
}

TEST_CASE("regex parser: an optional group that did not match gives no field") {
  auto p = Must(MakeRegexParser(R"(^a=(?<a>\d+)(?: b=(?<b>\d+))?$)", {}));
  CHECK(Run(*p, "a=1") == "a=1");
  CHECK(Run(*p, "a=1 b=2") == "a=1; b=2");
}

TEST_CASE("regex parser: a matched group that is not a number is an error") {
  auto p = Must(MakeRegexParser(R"(^v=(?<v>\S+)$)", {}));
  CHECK(Run(*p, "v=12") == "v=12");
  CHECK(Run(*p, "v=ERR") == "error: group \"v\": not a number");
}

TEST_CASE("regex parser: bad patterns and group lists are rejected when built") {
  CHECK_FALSE(MakeRegexParser("(unclosed", {}).has_value());
  CHECK_FALSE(MakeRegexParser(R"(\d+)", {}).has_value());            // nothing to read
  CHECK_FALSE(MakeRegexParser(R"((\d+))", {"a", "b"}).has_value());  // more names than groups
  CHECK_FALSE(MakeRegexParser(R"((?<x>\d+))", {"y"}).has_value());   // conflicting name
  CHECK(MakeRegexParser(R"((?<x>\d+))", {"x"}).has_value());
}

TEST_CASE("regex parser: catastrophic backtracking fails the line, not the process") {
  auto p = Must(MakeRegexParser(R"(^(?<v>(a+)+)b$)", {}));
  std::string line(4000, 'a');
  CHECK(Run(*p, line).rfind("error:", 0) == 0);
}

TEST_CASE("regex parser: works when writable+executable memory is refused (no PCRE2 JIT)") {
  // systemd's MemoryDenyWriteExecute= refuses memory that is both writable and executable, which
  // PCRE2's JIT needs; the parser must fall back to the interpreter. PR_SET_MDWE (Linux 6.3) is
  // the kernel's own form of that rule. It cannot be undone, so it runs in a child process, which
  // first drops the JIT memory inherited from earlier test cases (PCRE2 would reuse it).
  constexpr int kPrSetMdwe = 65;  // <linux/prctl.h>, newer than Debian 12's headers
  constexpr int kMdweRefuseExecGain = 1;
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (prctl(kPrSetMdwe, kMdweRefuseExecGain, 0L, 0L, 0L) != 0) _exit(77);
    ReleaseUnusedRegexJitMemory();
    if (RegexJitAvailable()) _exit(78);  // JIT still works: the test would prove nothing
    auto p = MakeRegexParser(R"(^T=(?<temperature>[-0-9.]+) H=(?<humidity>[0-9.]+)$)", {});
    if (!p) _exit(2);
    std::vector<Field> out;
    if (!(*p)->Parse("T=21.5 H=40", out).ok() || out.size() != 2) _exit(3);
    if (out[0].series != "temperature" || out[0].value != 21.5 || out[1].value != 40) _exit(4);
    out.clear();
    if ((*p)->Parse("garbage", out).ok()) _exit(5);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  const int code = WEXITSTATUS(status);
  if (code == 77) {
    MESSAGE("not run: this kernel (or emulator) has no PR_SET_MDWE");
    return;
  }
  CHECK_MESSAGE(code != 78, "PCRE2 could still JIT-compile under PR_SET_MDWE");
  CHECK_MESSAGE(code == 0, "the regex parser failed without JIT, step " << code);
}

TEST_CASE("csv parser: named columns, skipped columns, empty cells") {
  auto p = Must(MakeCsvParser({"_", "temperature", "humidity", ""}, ','));
  CHECK(Run(*p, "2026-01-01T00:00:00,21.5, 40 ,x") == "temperature=21.5; humidity=40");
  CHECK(Run(*p, "t,,40,x") == "humidity=40");
  CHECK(Run(*p, "t,21.5,40") == "error: 3 columns, expected 4");
  CHECK(Run(*p, "t,21.5,40,x,y") == "error: more than 4 columns");
  CHECK(Run(*p, "t,abc,40,x") == "error: column \"temperature\": not a number");
  CHECK(Run(*p, "t,,,x") == "error: no value");
}

TEST_CASE("csv parser: another separator, duplicate or no names rejected") {
  auto p = Must(MakeCsvParser({"a", "b"}, ';'));
  CHECK(Run(*p, "1;2") == "a=1; b=2");
  CHECK_FALSE(MakeCsvParser({"a", "a"}, ',').has_value());
  CHECK_FALSE(MakeCsvParser({"_", ""}, ',').has_value());
}

TEST_CASE("kv parser: every numeric key, text values skipped") {
  auto p = Must(MakeKeyValueParser({}, '='));
  CHECK(Run(*p, "T=21.5 H=40,P=1013;status=OK") == "T=21.5; H=40; P=1013");
  CHECK(Run(*p, "  T=1\r") == "T=1");
  CHECK(Run(*p, "status=OK") == "error: no numeric key=value pair");
  CHECK(Run(*p, "T=1 noise") == "error: a token is not key=value");
  CHECK(Run(*p, "") == "error: no numeric key=value pair");
}

TEST_CASE("kv parser: a key list selects keys and makes their values mandatory numbers") {
  auto p = Must(MakeKeyValueParser({"T", "H"}, ':'));
  CHECK(Run(*p, "T:21.5 X:9 H:40") == "T=21.5; H=40");
  CHECK(Run(*p, "T:hot H:40") == "error: key \"T\": not a number");
  CHECK_FALSE(MakeKeyValueParser({}, ' ').has_value());
}

TEST_CASE("nmea parser: GGA gives position, fix, satellites, hdop, altitude") {
  auto p = MakeNmeaParser(true);
  const std::string gga = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47";
  CHECK(Run(*p, gga) ==
        "latitude=48.1173 deg; longitude=11.5167 deg; fix_quality=1; satellites=8; hdop=0.9; "
        "altitude=545.4 m");
  // No fix: counts only.
  CHECK(Run(*p, Nmea("GPGGA,123519,,,,,0,00,,,M,,M,,")) == "fix_quality=0; satellites=0");
}

TEST_CASE("nmea parser: RMC with and without a fix, southern and western hemispheres") {
  auto p = MakeNmeaParser(true);
  CHECK(Run(*p, Nmea("GPRMC,123519,A,3351.000,S,15112.000,W,10.0,84.4,230394,003.1,W")) ==
        "latitude=-33.85 deg; longitude=-151.2 deg; speed=5.14444 m/s; course=84.4 deg");
  CHECK(Run(*p, Nmea("GPRMC,123519,V,,,,,,,230394,,")) == "");
  CHECK(Run(*p, Nmea("GPRMC,123519,X,,,,,,,230394,,")) == "error: RMC: malformed field");
}

TEST_CASE("nmea parser: MTW, MWV (units converted to m/s), DPT, HDT, XDR") {
  auto p = MakeNmeaParser(true);
  CHECK(Run(*p, Nmea("YXMTW,17.5,C")) == "water_temperature=17.5 degC");
  CHECK(Run(*p, Nmea("WIMWV,270.0,R,36.0,K,A")) == "wind_angle=270 deg; wind_speed=10 m/s");
  CHECK(Run(*p, Nmea("WIMWV,270.0,R,36.0,K,V")) == "");
  CHECK(Run(*p, Nmea("SDDPT,12.4,0.5")) == "depth=12.4 m");
  CHECK(Run(*p, Nmea("HEHDT,93.5,T")) == "heading=93.5 deg");
  CHECK(Run(*p, Nmea("WIXDR,C,21.5,C,AIRTEMP,P,1.0132,B,BARO,H,40,P,")) ==
        "AIRTEMP=21.5 C; BARO=1.0132 B; H=40 P");
}

TEST_CASE("nmea parser: bad checksum, missing checksum, noise and unknown sentences") {
  auto strict = MakeNmeaParser(true);
  auto lax = MakeNmeaParser(false);
  const std::string mtw = Nmea("YXMTW,17.5,C");
  std::string wrong = mtw;
  wrong[wrong.size() - 1] = wrong.back() == '0' ? '1' : '0';
  CHECK(Run(*strict, wrong) == "error: bad checksum");
  CHECK(Run(*lax, wrong) == "error: bad checksum");  // a present checksum is always verified
  CHECK(Run(*strict, "$YXMTW,17.5,C") == "error: no checksum");
  CHECK(Run(*lax, "$YXMTW,17.5,C") == "water_temperature=17.5 degC");
  CHECK(Run(*strict, "$YXMTW,17.5,C*G1") == "error: malformed checksum");
  CHECK(Run(*strict, "xx" + mtw) == "error: not an NMEA sentence");
  CHECK(Run(*strict, Nmea("GPGSV,3,1,11,03,03,111,00")) == "");  // valid, not decoded
  CHECK(Run(*strict, Nmea("YXMTW,warm,C")) == "error: MTW: malformed field");
  CHECK(Run(*strict, Nmea("GPGGA,1,9999.0,N,01131.000,E,1,08,0.9,545.4,M")) ==
        "error: GGA: malformed field");  // 99 minutes
}

TEST_CASE("MakeParser: builds by kind and rejects an unknown kind") {
  ParserOptions o;
  o.kind = "nmea";
  CHECK(MakeParser(o).has_value());
  o.kind = "csv";
  o.columns = {"a"};
  CHECK(MakeParser(o).has_value());
  o.kind = "xml";
  CHECK_FALSE(MakeParser(o).has_value());
}

}  // namespace pn::serial
