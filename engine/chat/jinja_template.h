// A Jinja template as transformers renders chat templates: jinja2's ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks and loop controls, its own tojson, and the globals raise_exception(message),
// range, namespace and dict. This is the public face of engine/chat/jinja_*: nothing here throws.
//
//   FP4LAB_ASSIGN_OR_RETURN(jinja::Template t, jinja::Template::Parse(source, "tokenizer_config.json"));
//   FP4LAB_ASSIGN_OR_RETURN(std::string text, t.Render({{"messages", messages}, {"add_generation_prompt", true}}));
//
// Errors are InvalidArgument "<name>:<line>:<column>: <what>", for syntax errors, unknown filters or tests,
// constructs outside the supported subset, raise_exception() and exceeded limits alike.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/chat/jinja_error.h"
#include "engine/status.h"

namespace fp4lab::jinja {

struct Node;

class Template {
 public:
  // `name` labels every message (e.g. "model/tokenizer_config.json: chat_template").
  static Result<Template> Parse(const std::string& source, const std::string& name, const Limits& limits = {});

  // `variables`: a JSON object whose keys become template variables (objects keep their key order). A JSON null is
  // Python's None; a key that is absent is undefined.
  Result<std::string> Render(const nlohmann::ordered_json& variables) const;

  const std::string& name() const { return name_; }

 private:
  std::string name_;
  Limits limits_;
  std::shared_ptr<const std::vector<std::unique_ptr<Node>>> body_;
};

}  // namespace fp4lab::jinja
