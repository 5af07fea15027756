// The Gemma 4 text family (gemma4_text, and the text part of a full gemma4 config's text_config; the backbone of
// Gemma 4 26B-A4B): the layers of engine/arch/gemma4_backbone.h as a causal language model. The embedding is
// multiplied by sqrt(hidden_size), lm_head is tied to it, the logits are soft-capped by final_logit_softcapping.
// Not supported (refused with the field named): per-layer input embeddings (hidden_size_per_layer_input, Gemma 4
// E2B/E4B), KV sharing across layers (num_kv_shared_layers), bidirectional attention.
#include "engine/arch/gemma4_backbone.h"

namespace fp4lab {

namespace {

class Gemma4Model : public Gemma4Backbone {
 public:
  // `root`: tensor names start with it ("model." or "model.language_model.").
  Gemma4Model(const Gemma4Config& config, const std::string& root, const TensorManifest& manifest, Backend& backend)
      : Gemma4Backbone(config, manifest, backend), root_(root) {}

  Status Load(WeightLoader& loader) {
    FP4LAB_ASSIGN_OR_RETURN(embed_, LoadEmbedding(loader, root_ + "embed_tokens.weight"));
    for (int l = 0; l < gemma4().decoder.num_layers; ++l) {
      FP4LAB_ASSIGN_OR_RETURN(Layer layer, LoadLayer(loader, root_ + "layers." + std::to_string(l) + ".", l));
      layers_.push_back(std::move(layer));
    }
    FP4LAB_ASSIGN_OR_RETURN(final_norm_, LoadVector(loader, root_ + "norm.weight"));
    return Status::Ok();
  }

 protected:
  Status RunDecoder(StepBuffers& step, KvCache& cache, DeviceTensor& logits) override {
    const int64_t D = gemma4().decoder.hidden_size;
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * x, Buffer(step, "x", D));
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * h, Buffer(step, "h", D));
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * m, Buffer(step, "m", D));
    // x is the residual stream, h and m sublayer inputs and outputs.
    FP4LAB_RETURN_IF_ERROR(EmbedScaled(step, *embed_, *x));
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      FP4LAB_RETURN_IF_ERROR(
          RunLayer(step, L, L.layout, L.layer_scalar, L.experts, *cache.k[l], *cache.v[l], *x, *h, *m));
    }
    return Head(*x, *final_norm_, *embed_, *h, logits);
  }

 private:
  std::string root_;
  std::unique_ptr<DeviceLinear> embed_;  // [V, D], also the output head
  std::vector<Layer> layers_;
  std::unique_ptr<DeviceTensor> final_norm_;
};

class Gemma4Blueprint : public ModelBlueprint {
 public:
  Gemma4Blueprint(Gemma4Config config, std::string root) : c_(std::move(config)), root_(std::move(root)) {
    const DecoderConfig& d = c_.decoder;
    manifest_.AddEmbedding(root_ + "embed_tokens.weight", d.model.vocab_size, d.hidden_size);
    for (int l = 0; l < d.num_layers; ++l) {
      AddGemma4LayerTensors(manifest_, c_, root_ + "layers." + std::to_string(l) + ".", l);
    }
    manifest_.AddVector(root_ + "norm.weight", "norms", d.hidden_size);
  }

  const ModelConfig& config() const override { return c_.decoder.model; }
  const TensorManifest& manifest() const override { return manifest_; }
  std::vector<int64_t> KvWidths() const override { return Gemma4KvWidths(c_); }
  int64_t ActivationFloatsPerRow() const override { return Gemma4ActivationFloatsPerRow(c_); }
  Result<std::unique_ptr<Model>> Load(WeightLoader& loader, Backend& backend) const override {
    auto model = std::make_unique<Gemma4Model>(c_, root_, manifest_, backend);
    FP4LAB_RETURN_IF_ERROR(model->Load(loader));
    return std::unique_ptr<Model>(std::move(model));
  }

 private:
  Gemma4Config c_;
  std::string root_;
  TensorManifest manifest_;
};

Result<std::unique_ptr<ModelBlueprint>> ParseGemma4(const nlohmann::json& json, const std::string& path) {
  // A full Gemma 4 config (model_type gemma4) nests the text model's fields in text_config; its checkpoint names
  // the text model's tensors model.language_model.*.
  const ConfigReader top(json, path);
  FP4LAB_RETURN_IF_ERROR(top.CheckObject());
  const bool nested = top.Has("text_config");
  Gemma4Config c;
  FP4LAB_ASSIGN_OR_RETURN(const ConfigReader r, nested ? top.Child("text_config") : Result<ConfigReader>(top));
  FP4LAB_ASSIGN_OR_RETURN(c.decoder, ParseDecoderConfig(r, "gemma4", "gelu_pytorch_tanh"));
  if (nested) {
    FP4LAB_ASSIGN_OR_RETURN(c.decoder.model.model_type, top.OptionalString("model_type", "gemma4"));
  }
  FP4LAB_RETURN_IF_ERROR(ParseGemma4Backbone(r, /*diffusion_defaults=*/false, c));
  return std::unique_ptr<ModelBlueprint>(
      new Gemma4Blueprint(std::move(c), nested ? "model.language_model." : "model."));
}

}  // namespace

ArchitectureSpec Gemma4Architecture() { return {"gemma4", {"gemma4_text", "gemma4"}, &ParseGemma4}; }

}  // namespace fp4lab
