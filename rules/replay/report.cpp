#include "rules/replay/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>

namespace pn::rules {
namespace {

// Plot geometry (SVG user units): values on top, the score band (0..1) below them.
constexpr double kWidth = 1000, kLeft = 60, kRight = 990;
constexpr double kValueTop = 10, kValueBottom = 160, kScoreTop = 175, kScoreBottom = 215;
constexpr double kHeight = 240;
constexpr int kColumns = 930;  // one per plot pixel: min and max of each are drawn

constexpr std::string_view kStyle = R"(
body{font:14px system-ui,sans-serif;margin:20px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:15px;margin:18px 0 4px}
.meta{color:#555;margin-bottom:10px} svg{display:block;background:#fafafa;border:1px solid #ddd}
.axis{stroke:#999;stroke-width:1;fill:none} .grid{stroke:#e4e4e4;stroke-width:1}
.value{stroke:#1f5fa8;stroke-width:1;fill:none} .score{stroke:#e08a00;stroke-width:1;fill:none}
.health{stroke:#2a8a3a;stroke-width:1.5;fill:none} .rul{stroke:#7a3aa8;stroke-width:1.5;fill:none}
.event{fill:#d62020;stroke:#fff;stroke-width:.5} .tick{stroke:#d62020;stroke-width:1}
.alarm{fill:#d62020;fill-opacity:.12} .label{fill:#18a058;fill-opacity:.18}
text{font-size:11px;fill:#555} table{border-collapse:collapse;margin-top:6px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right} th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left} .warn{color:#b00;font-weight:600}
.key span{display:inline-block;margin-right:14px} .sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
)";

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Min and max of each column of `pts`, as one zig-zag path from y(min) to y(max) per column.
std::string Envelope(const std::vector<std::pair<std::int64_t, double>>& pts, double lo, double hi,
                     double top, double bottom, const auto& x_of) {
  std::vector<double> mn(kColumns, std::numeric_limits<double>::infinity());
  std::vector<double> mx(kColumns, -std::numeric_limits<double>::infinity());
  for (const auto& [t, v] : pts) {
    if (!std::isfinite(v)) continue;
    const double x = x_of(t);
    const int c =
        std::clamp(static_cast<int>((x - kLeft) / (kRight - kLeft) * kColumns), 0, kColumns - 1);
    mn[c] = std::min(mn[c], v);
    mx[c] = std::max(mx[c], v);
  }
  const double span = hi > lo ? hi - lo : 1.0;
  auto y = [&](double v) { return bottom - (v - lo) / span * (bottom - top); };
  std::string d;
  bool first = true;
  for (int c = 0; c < kColumns; ++c) {
    if (!std::isfinite(mn[c])) continue;
    const double x = kLeft + (c + 0.5) * (kRight - kLeft) / kColumns;
    d += fmt::format("{}{:.1f},{:.1f}L{:.1f},{:.1f}", first ? "M" : "L", x, y(mn[c]), x, y(mx[c]));
    first = false;
  }
  return d;
}

std::pair<double, double> Range(const std::vector<std::pair<std::int64_t, double>>& pts) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& p : pts) {
    if (!std::isfinite(p.second)) continue;
    lo = std::min(lo, p.second);
    hi = std::max(hi, p.second);
  }
  if (!std::isfinite(lo)) return {0.0, 1.0};
  if (hi == lo) return {lo - 1.0, hi + 1.0};
  const double pad = (hi - lo) * 0.05;
  return {lo - pad, hi + pad};
}

}  // namespace

void ReplayReport::AddValue(std::string_view device, std::string_view series, std::int64_t ts_ns,
                            double v) {
  panels_[{std::string(device), std::string(series)}].values.emplace_back(ts_ns, v);
  t_min_ = std::min(t_min_, ts_ns);
  t_max_ = std::max(t_max_, ts_ns);
}

void ReplayReport::AddScore(std::string_view rule, std::string_view device, std::string_view series,
                            std::int64_t ts_ns, double score) {
  if (std::isnan(score)) return;
  panels_[{std::string(device), std::string(series)}].scores[std::string(rule)].emplace_back(ts_ns,
                                                                                             score);
}

void ReplayReport::AddEvent(const Event& e) {
  ++event_count_[static_cast<int>(e.kind)];
  if (e.kind == EventKind::kHealth || e.kind == EventKind::kRul) {
    HealthPanel& h = health_[{e.device, e.rule}];
    if (e.kind == EventKind::kHealth) h.health.emplace_back(e.ts_ns, e.health);
    if (e.kind == EventKind::kRul) h.rul.emplace_back(e.ts_ns, e.rul);
    t_min_ = std::min(t_min_, e.ts_ns);
    t_max_ = std::max(t_max_, e.ts_ns);
    return;
  }
  panels_[{e.device, e.series}].events.push_back(e);
}

double ReplayReport::X(std::int64_t ts) const {
  if (t_max_ <= t_min_) return (kLeft + kRight) / 2;
  return kLeft +
         static_cast<double>(ts - t_min_) / static_cast<double>(t_max_ - t_min_) * (kRight - kLeft);
}

std::string ReplayReport::TimeText(std::int64_t ts) const {
  if (!iso_time_) return fmt::format("{}", static_cast<double>(ts) / 1e9);
  const std::time_t secs = static_cast<std::time_t>(ts / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void ReplayReport::RenderPanel(std::string& out, const std::string& title, const Panel& p) const {
  auto x_of = [this](std::int64_t t) { return X(t); };
  const std::pair<double, double> range = Range(p.values);  // (clang 14: no captured bindings)
  const double lo = range.first, hi = range.second;
  auto y = [&](double v) {
    return kValueBottom - (v - lo) / (hi - lo) * (kValueBottom - kValueTop);
  };
  out += fmt::format(
      "<h2>{}</h2>\n<svg class=\"panel\" viewBox=\"0 0 {} {}\" width=\"{}\" "
      "height=\"{}\" data-title=\"{}\">\n",
      Escape(title), kWidth, kHeight, kWidth, kHeight, Escape(title));
  for (const auto& [s, e] : labels_) {
    out += fmt::format(
        "<rect class=\"label\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" "
        "data-start=\"{}\" data-end=\"{}\"/>\n",
        X(s), kValueTop, std::max(1.0, X(e) - X(s)), kScoreBottom - kValueTop, Escape(TimeText(s)),
        Escape(TimeText(e)));
  }
  // Alarms: from each raise to the next clear of the same rule (or the end of the data).
  std::map<std::string, const Event*> open;
  auto shade = [&](const Event& raise, std::int64_t until, bool cleared) {
    const std::string from = Escape(TimeText(raise.ts_ns));
    const std::string to = cleared ? Escape(TimeText(until)) : std::string();
    out += fmt::format(
        "<rect class=\"alarm\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" "
        "height=\"{}\" data-rule=\"{}\" data-raise=\"{}\" data-clear=\"{}\">"
        "<title>{} alarm ({}) from {} to {}</title></rect>\n",
        X(raise.ts_ns), kValueTop, std::max(1.0, X(until) - X(raise.ts_ns)),
        kScoreBottom - kValueTop, Escape(raise.rule), raise.ts_ns,
        cleared ? std::to_string(until) : std::string(), Escape(raise.rule), Escape(raise.severity),
        from, cleared ? to : std::string("the end"));
  };
  for (const Event& e : p.events) {
    if (e.kind == EventKind::kAlarm) {
      open[e.rule] = &e;
    } else if (e.kind == EventKind::kClear) {
      auto it = open.find(e.rule);
      if (it != open.end() && it->second != nullptr) shade(*it->second, e.ts_ns, true);
      if (it != open.end()) open.erase(it);
    }
  }
  for (const auto& [rule, raise] : open) shade(*raise, t_max_, false);
  // Axes, the value envelope and its range, the score band with each rule's score.
  out += fmt::format("<path class=\"axis\" d=\"M{0},{1}V{2}H{3}M{0},{4}V{5}H{3}\"/>\n", kLeft,
                     kValueTop, kValueBottom, kRight, kScoreTop, kScoreBottom);
  out += fmt::format("<text x=\"4\" y=\"{}\">{:.4g}</text><text x=\"4\" y=\"{}\">{:.4g}</text>\n",
                     kValueTop + 10, hi, kValueBottom, lo);
  out += fmt::format("<text x=\"4\" y=\"{}\">score 1</text><text x=\"4\" y=\"{}\">0</text>\n",
                     kScoreTop + 8, kScoreBottom);
  out += fmt::format("<path class=\"value\" d=\"{}\"/>\n",
                     Envelope(p.values, lo, hi, kValueTop, kValueBottom, x_of));
  for (const auto& [rule, pts] : p.scores) {
    out += fmt::format("<path class=\"score\" data-rule=\"{}\" d=\"{}\"/>\n", Escape(rule),
                       Envelope(pts, 0.0, 1.0, kScoreTop, kScoreBottom, x_of));
  }
  // Every anomaly event is a mark of its own (never merged), at its value when it has one.
  for (const Event& e : p.events) {
    if (e.kind != EventKind::kAnomaly) continue;
    const double cy = std::isfinite(e.value) ? y(e.value) : kValueTop + 6;
    out += fmt::format(
        "<line class=\"tick\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\"/>"
        "<circle class=\"event\" cx=\"{0:.1f}\" cy=\"{3:.1f}\" r=\"3.5\" "
        "data-rule=\"{4}\" data-ts=\"{5}\"><title>{4}: anomaly at {6}, score "
        "{7:.4g}</title></circle>\n",
        X(e.ts_ns), kScoreTop, kScoreBottom, cy, Escape(e.rule), e.ts_ns, Escape(TimeText(e.ts_ns)),
        e.score);
  }
  out += fmt::format(
      "<text x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" "
      "text-anchor=\"end\">{}</text>\n</svg>\n",
      kLeft, kHeight - 6, Escape(TimeText(t_min_)), kRight, kHeight - 6, Escape(TimeText(t_max_)));
}

void ReplayReport::RenderHealth(std::string& out, const std::string& title,
                                const HealthPanel& p) const {
  auto x_of = [this](std::int64_t t) { return X(t); };
  const auto [rlo, rhi] = Range(p.rul);
  out += fmt::format(
      "<h2>{}</h2>\n<svg class=\"health-panel\" viewBox=\"0 0 {} {}\" width=\"{}\" "
      "height=\"{}\">\n",
      Escape(title), kWidth, kValueBottom + 30, kWidth, kValueBottom + 30);
  out += fmt::format("<path class=\"axis\" d=\"M{},{}V{}H{}\"/>\n", kLeft, kValueTop, kValueBottom,
                     kRight);
  out += fmt::format("<text x=\"4\" y=\"{}\">health 1</text><text x=\"4\" y=\"{}\">0</text>\n",
                     kValueTop + 10, kValueBottom);
  out += fmt::format("<path class=\"health\" d=\"{}\"/>\n",
                     Envelope(p.health, 0.0, 1.0, kValueTop, kValueBottom, x_of));
  if (!p.rul.empty()) {
    out += fmt::format("<path class=\"rul\" d=\"{}\"/>\n",
                       Envelope(p.rul, std::max(0.0, rlo), rhi, kValueTop, kValueBottom, x_of));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">RUL {:.4g}</text>\n", kRight,
                       kValueTop + 10, rhi);
  }
  out += fmt::format(
      "<text x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" "
      "text-anchor=\"end\">{}</text>\n</svg>\n",
      kLeft, kValueBottom + 22, Escape(TimeText(t_min_)), kRight, kValueBottom + 22,
      Escape(TimeText(t_max_)));
}

std::string ReplayReport::Render(std::string_view title,
                                 const std::vector<RuleScoreSummary>& rules) const {
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>";
  out += Escape(title);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style></head><body>\n<h1>";
  out += Escape(title);
  out += "</h1>\n";
  out += fmt::format(
      "<div class=\"meta\">{} to {} &middot; {} anomaly, {} alarm, {} clear, {} health and {} "
      "RUL events &middot; {} labelled windows</div>\n",
      Escape(TimeText(t_min_)), Escape(TimeText(t_max_)), event_count_[0], event_count_[1],
      event_count_[2], event_count_[3], event_count_[4], labels_.size());
  out +=
      "<div class=\"key\"><span><i class=\"sw\" style=\"background:#1f5fa8\"></i>value (min "
      "and max per pixel)</span><span><i class=\"sw\" style=\"background:#e08a00\"></i>anomaly "
      "score</span><span><i class=\"sw\" style=\"background:#d62020\"></i>anomaly event, alarm "
      "(shaded)</span><span><i class=\"sw\" style=\"background:#18a058;opacity:.5\"></i>labelled "
      "window</span></div>\n";
  out +=
      "<h2>Rules</h2>\n<table id=\"summary\"><tr><th>rule</th><th>samples</th><th>warming "
      "up</th><th>scored</th><th>flagged</th><th>min_score</th>";
  for (std::size_t b = 0; b < RuleScoreSummary::kEdges.size(); ++b) {
    out += fmt::format("<th>[{}, {})</th>", RuleScoreSummary::BinLower(b),
                       RuleScoreSummary::kEdges[b]);
  }
  out += "<th>= 1</th></tr>\n";
  for (const RuleScoreSummary& s : rules) {
    out += fmt::format(
        "<tr data-rule=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td{}>{} ({:.2f}%)</td><td>{}</td>",
        Escape(s.rule), Escape(s.rule), s.samples, s.warming_up, s.scored(),
        s.flags_too_much() ? " class=\"warn\"" : "", s.flagged, s.flagged_percent(), s.min_score);
    for (std::uint64_t b : s.bins) out += fmt::format("<td>{}</td>", b);
    out += "</tr>\n";
  }
  out += "</table>\n";
  for (const auto& [key, panel] : panels_) {
    if (panel.values.empty() && panel.events.empty()) continue;
    RenderPanel(out, key.first + " / " + key.second, panel);
  }
  for (const auto& [key, panel] : health_) {
    RenderHealth(out, key.first + " / " + key.second + " (health, RUL)", panel);
  }
  out += "</body></html>\n";
  return out;
}

}  // namespace pn::rules
