// A small, safe expression language for derived series: arithmetic, comparisons, logic, common
// math functions and references to other series of the same device. No assignment, no loops,
// no I/O: an expression is compiled once to a bytecode of at most a few hundred operations and
// evaluated in bounded time and stack.
//
//   expr    := or
//   or      := and  (("||" | "or")  and)*
//   and     := cmp  (("&&" | "and") cmp)*
//   cmp     := add  (("<" | "<=" | ">" | ">=" | "==" | "!=") add)?
//   add     := mul  (("+" | "-") mul)*
//   mul     := unary (("*" | "/" | "%") unary)*
//   unary   := ("-" | "+" | "!" | "not") unary | power
//   power   := primary ("^" unary)?                      (right-associative)
//   primary := NUMBER | NAME | `any series name` | NAME "(" args ")" | "(" expr ")"
//
// Names are series of the same device ([A-Za-z_][A-Za-z0-9_.]*, or any text in backticks); `pi`
// is a constant. Functions: abs sqrt cbrt exp log log2 log10 sin cos tan asin acos atan atan2
// sinh cosh tanh floor ceil round trunc min max pow hypot clamp(x,lo,hi) if(cond,a,b).
// Comparisons and logic yield 1 or 0; any non-zero value is true. Arithmetic follows IEEE 754
// (x/0 is inf, log(-1) is NaN); the engine marks a non-finite result bad.
//
// Thread-safety: a compiled Expression is immutable; Eval is safe to call concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace pn::rules {

class Expression {
 public:
  // Compiles `text`. On a syntax error the Status message is "at column N: what is wrong"
  // (1-based column in `text`).
  static Result<Expression> Compile(std::string_view text);

  // The series the expression reads, in first-use order; Eval takes their values in this order.
  const std::vector<std::string>& variables() const { return variables_; }

  // REQUIRES: vars.size() == variables().size().
  double Eval(std::span<const double> vars) const;

 private:
  enum class Op : std::uint8_t {
    kConst,
    kVar,
    kNeg,
    kNot,
    kAdd,
    kSub,
    kMul,
    kDiv,
    kMod,
    kPow,
    kLt,
    kLe,
    kGt,
    kGe,
    kEq,
    kNe,
    kAnd,
    kOr,
    kCall1,
    kCall2,
    kCall3,
  };
  struct Instr {
    Op op;
    std::uint8_t fn = 0;      // kCall*: function index
    std::uint32_t index = 0;  // kVar
    double value = 0.0;       // kConst
  };
  friend class ExpressionParser;

  std::vector<Instr> code_;
  std::vector<std::string> variables_;
  std::size_t max_stack_ = 0;
};

}  // namespace pn::rules
