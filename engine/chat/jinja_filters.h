// Jinja filters (`x | name(args)`) and tests (`x is name(args)`) as jinja2 defines them, with transformers' tojson.
//
// Filters: abs capitalize count d default e escape first float int items join last length list lower map reject
// rejectattr replace reverse safe select selectattr sort string title tojson trim unique upper.
// Tests: boolean callable defined divisibleby eq equalto even false float ge gt in integer iterable le lower lt
// mapping ne none number odd sameas sequence string true undefined upper == != < <= > >=.
#pragma once

#include <string>

#include "engine/chat/jinja_value.h"

namespace fp4lab::jinja {

// Known names are checked when the template is parsed, as jinja2 does, so an unknown filter or test is an error
// even in a branch that never runs.
bool IsKnownFilter(const std::string& name);
bool IsKnownTest(const std::string& name);

Value ApplyFilter(const std::string& name, const Value& input, const CallArgs& args);
bool ApplyTest(const std::string& name, const Value& input, const CallArgs& args);

}  // namespace fp4lab::jinja
