#include "rules/expressions/expression.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <numbers>

namespace pn::rules {
namespace {

constexpr std::size_t kMaxCode = 1024;
constexpr std::size_t kMaxStack = 64;
constexpr int kMaxDepth = 64;

struct Function {
  std::string_view name;
  int arity;
};
// Order matters: Eval switches on the index.
constexpr std::array<Function, 26> kFunctions{{
    {"abs", 1},  {"sqrt", 1}, {"cbrt", 1},  {"exp", 1},   {"log", 1},   {"log2", 1},  {"log10", 1},
    {"sin", 1},  {"cos", 1},  {"tan", 1},   {"asin", 1},  {"acos", 1},  {"atan", 1},  {"sinh", 1},
    {"cosh", 1}, {"tanh", 1}, {"floor", 1}, {"ceil", 1},  {"round", 1}, {"trunc", 1}, {"atan2", 2},
    {"min", 2},  {"max", 2},  {"pow", 2},   {"hypot", 2}, {"clamp", 3},
}};
constexpr std::uint8_t kIfFunction = 255;  // if(c, a, b), a kCall3

double Call1(std::uint8_t fn, double x) {
  switch (fn) {
    case 0:
      return std::fabs(x);
    case 1:
      return std::sqrt(x);
    case 2:
      return std::cbrt(x);
    case 3:
      return std::exp(x);
    case 4:
      return std::log(x);
    case 5:
      return std::log2(x);
    case 6:
      return std::log10(x);
    case 7:
      return std::sin(x);
    case 8:
      return std::cos(x);
    case 9:
      return std::tan(x);
    case 10:
      return std::asin(x);
    case 11:
      return std::acos(x);
    case 12:
      return std::atan(x);
    case 13:
      return std::sinh(x);
    case 14:
      return std::cosh(x);
    case 15:
      return std::tanh(x);
    case 16:
      return std::floor(x);
    case 17:
      return std::ceil(x);
    case 18:
      return std::round(x);
    case 19:
      return std::trunc(x);
  }
  return std::nan("");
}

double Call2(std::uint8_t fn, double a, double b) {
  switch (fn) {
    case 20:
      return std::atan2(a, b);
    case 21:
      return std::fmin(a, b);
    case 22:
      return std::fmax(a, b);
    case 23:
      return std::pow(a, b);
    case 24:
      return std::hypot(a, b);
  }
  return std::nan("");
}

}  // namespace

class ExpressionParser {
 public:
  explicit ExpressionParser(std::string_view text) : text_(text) {}

  Result<Expression> Run() {
    Skip();
    if (pos_ >= text_.size()) return Fail(pos_, "empty expression");
    if (!ParseOr()) return Err(error_);
    Skip();
    if (pos_ < text_.size()) {
      return Fail(pos_, fmt::format("unexpected '{}'", text_[pos_]));
    }
    // Stack depth by simulation.
    std::size_t depth = 0, max_depth = 0;
    for (const auto& in : expr_.code_) {
      switch (in.op) {
        case Expression::Op::kConst:
        case Expression::Op::kVar:
          ++depth;
          break;
        case Expression::Op::kNeg:
        case Expression::Op::kNot:
        case Expression::Op::kCall1:
          break;
        case Expression::Op::kCall3:
          depth -= 2;
          break;
        default:
          --depth;
          break;
      }
      max_depth = std::max(max_depth, depth);
    }
    if (max_depth > kMaxStack) return Fail(0, "expression is too deeply nested");
    expr_.max_stack_ = max_depth;
    return std::move(expr_);
  }

 private:
  using Op = Expression::Op;

  tl::unexpected<Status> Fail(std::size_t at, std::string what) {
    return Err(Status::Config(fmt::format("at column {}: {}", at + 1, what)));
  }
  bool SetError(std::size_t at, std::string what) {
    if (error_.ok()) error_ = Status::Config(fmt::format("at column {}: {}", at + 1, what));
    return false;
  }

  void Skip() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Accept(std::string_view token) {
    Skip();
    if (text_.substr(pos_, token.size()) != token) return false;
    // Word operators must not be a prefix of a name ("order" is not "or").
    if (std::isalpha(static_cast<unsigned char>(token[0])) && pos_ + token.size() < text_.size()) {
      char next = text_[pos_ + token.size()];
      if (std::isalnum(static_cast<unsigned char>(next)) || next == '_' || next == '.') {
        return false;
      }
    }
    pos_ += token.size();
    return true;
  }
  bool Emit(Op op, double value = 0.0, std::uint32_t index = 0, std::uint8_t fn = 0) {
    if (expr_.code_.size() >= kMaxCode) return SetError(pos_, "expression is too long");
    expr_.code_.push_back({op, fn, index, value});
    return true;
  }
  bool Enter() {
    if (++depth_ > kMaxDepth) return SetError(pos_, "expression is too deeply nested");
    return true;
  }

  bool ParseOr() {
    if (!Enter() || !ParseAnd()) return false;
    while (Accept("||") || Accept("or")) {
      if (!ParseAnd() || !Emit(Op::kOr)) return false;
    }
    --depth_;
    return true;
  }
  bool ParseAnd() {
    if (!ParseCmp()) return false;
    while (Accept("&&") || Accept("and")) {
      if (!ParseCmp() || !Emit(Op::kAnd)) return false;
    }
    return true;
  }
  bool ParseCmp() {
    if (!ParseAdd()) return false;
    Op op;
    if (Accept("<=")) {
      op = Op::kLe;
    } else if (Accept(">=")) {
      op = Op::kGe;
    } else if (Accept("==")) {
      op = Op::kEq;
    } else if (Accept("!=")) {
      op = Op::kNe;
    } else if (Accept("<")) {
      op = Op::kLt;
    } else if (Accept(">")) {
      op = Op::kGt;
    } else {
      return true;
    }
    return ParseAdd() && Emit(op);
  }
  bool ParseAdd() {
    if (!ParseMul()) return false;
    while (true) {
      if (Accept("+")) {
        if (!ParseMul() || !Emit(Op::kAdd)) return false;
      } else if (Accept("-")) {
        if (!ParseMul() || !Emit(Op::kSub)) return false;
      } else {
        return true;
      }
    }
  }
  bool ParseMul() {
    if (!ParseUnary()) return false;
    while (true) {
      Op op;
      if (Accept("*")) {
        op = Op::kMul;
      } else if (Accept("/")) {
        op = Op::kDiv;
      } else if (Accept("%")) {
        op = Op::kMod;
      } else {
        return true;
      }
      if (!ParseUnary() || !Emit(op)) return false;
    }
  }
  bool ParseUnary() {
    if (!Enter()) return false;
    bool ok;
    if (Accept("-")) {
      ok = ParseUnary() && Emit(Op::kNeg);
    } else if (Accept("+")) {
      ok = ParseUnary();
    } else if (Accept("!") || Accept("not")) {
      ok = ParseUnary() && Emit(Op::kNot);
    } else {
      ok = ParsePower();
    }
    --depth_;
    return ok;
  }
  bool ParsePower() {
    if (!ParsePrimary()) return false;
    if (Accept("^")) return ParseUnary() && Emit(Op::kPow);
    return true;
  }
  bool Variable(std::string name) {
    for (std::size_t i = 0; i < expr_.variables_.size(); ++i) {
      if (expr_.variables_[i] == name) return Emit(Op::kVar, 0, static_cast<std::uint32_t>(i));
    }
    expr_.variables_.push_back(std::move(name));
    return Emit(Op::kVar, 0, static_cast<std::uint32_t>(expr_.variables_.size() - 1));
  }
  bool ParsePrimary() {
    Skip();
    if (pos_ >= text_.size()) return SetError(pos_, "unexpected end of expression");
    const std::size_t start = pos_;
    char c = text_[pos_];
    if (c == '(') {
      ++pos_;
      if (!ParseOr()) return false;
      if (!Accept(")")) return SetError(pos_, "expected ')'");
      return true;
    }
    if (c == '`') {
      std::size_t end = text_.find('`', pos_ + 1);
      if (end == std::string_view::npos) return SetError(start, "unterminated `name`");
      std::string name(text_.substr(pos_ + 1, end - pos_ - 1));
      if (name.empty()) return SetError(start, "empty `name`");
      pos_ = end + 1;
      return Variable(std::move(name));
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      std::string num(text_.substr(pos_));
      char* endp = nullptr;
      double v = std::strtod(num.c_str(), &endp);
      std::size_t len = static_cast<std::size_t>(endp - num.c_str());
      if (len == 0) return SetError(start, "malformed number");
      pos_ += len;
      return Emit(Op::kConst, v);
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t end = pos_;
      while (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) ||
                                    text_[end] == '_' || text_[end] == '.')) {
        ++end;
      }
      std::string name(text_.substr(pos_, end - pos_));
      pos_ = end;
      Skip();
      if (pos_ < text_.size() && text_[pos_] == '(') {
        ++pos_;
        return ParseCall(name, start);
      }
      if (name == "pi") return Emit(Op::kConst, std::numbers::pi);
      return Variable(std::move(name));
    }
    return SetError(start, fmt::format("unexpected '{}'", c));
  }
  bool ParseCall(const std::string& name, std::size_t start) {
    int arity = -1;
    std::uint8_t fn = 0;
    if (name == "if") {
      arity = 3;
      fn = kIfFunction;
    }
    for (std::size_t i = 0; i < kFunctions.size(); ++i) {
      if (kFunctions[i].name == name) {
        arity = kFunctions[i].arity;
        fn = static_cast<std::uint8_t>(i);
      }
    }
    if (arity < 0) return SetError(start, "unknown function '" + name + "'");
    int args = 0;
    Skip();
    if (!Accept(")")) {
      while (true) {
        if (!ParseOr()) return false;
        ++args;
        if (Accept(")")) break;
        if (!Accept(",")) return SetError(pos_, "expected ',' or ')'");
      }
    }
    if (args != arity) {
      return SetError(start, fmt::format("{}() takes {} argument{}, found {}", name, arity,
                                         arity == 1 ? "" : "s", args));
    }
    Op op = arity == 1 ? Op::kCall1 : arity == 2 ? Op::kCall2 : Op::kCall3;
    return Emit(op, 0, 0, fn);
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  Status error_;
  Expression expr_;
};

Result<Expression> Expression::Compile(std::string_view text) {
  return ExpressionParser(text).Run();
}

double Expression::Eval(std::span<const double> vars) const {
  std::array<double, kMaxStack> stack;
  std::size_t sp = 0;
  for (const Instr& in : code_) {
    switch (in.op) {
      case Op::kConst:
        stack[sp++] = in.value;
        break;
      case Op::kVar:
        stack[sp++] = vars[in.index];
        break;
      case Op::kNeg:
        stack[sp - 1] = -stack[sp - 1];
        break;
      case Op::kNot:
        stack[sp - 1] = stack[sp - 1] == 0.0 ? 1.0 : 0.0;
        break;
      case Op::kCall1:
        stack[sp - 1] = Call1(in.fn, stack[sp - 1]);
        break;
      case Op::kCall2:
        --sp;
        stack[sp - 1] = Call2(in.fn, stack[sp - 1], stack[sp]);
        break;
      case Op::kCall3: {
        sp -= 2;
        double a = stack[sp - 1], b = stack[sp], c = stack[sp + 1];
        stack[sp - 1] = in.fn == kIfFunction ? (a != 0.0 ? b : c) : std::fmin(std::fmax(a, b), c);
        break;
      }
      default: {
        --sp;
        double a = stack[sp - 1], b = stack[sp];
        double r = 0.0;
        switch (in.op) {
          case Op::kAdd:
            r = a + b;
            break;
          case Op::kSub:
            r = a - b;
            break;
          case Op::kMul:
            r = a * b;
            break;
          case Op::kDiv:
            r = a / b;
            break;
          case Op::kMod:
            r = std::fmod(a, b);
            break;
          case Op::kPow:
            r = std::pow(a, b);
            break;
          case Op::kLt:
            r = a < b;
            break;
          case Op::kLe:
            r = a <= b;
            break;
          case Op::kGt:
            r = a > b;
            break;
          case Op::kGe:
            r = a >= b;
            break;
          case Op::kEq:
            r = a == b;
            break;
          case Op::kNe:
            r = a != b;
            break;
          case Op::kAnd:
            r = (a != 0.0 && b != 0.0);
            break;
          case Op::kOr:
            r = (a != 0.0 || b != 0.0);
            break;
          default:
            break;
        }
        stack[sp - 1] = r;
      }
    }
  }
  return sp == 1 ? stack[0] : std::nan("");
}

}  // namespace pn::rules
