// Tests of the Config field table: --set parsing, key resolution and suggestions, YAML I/O,
// precedence, validation, and configs/default.yaml.
#include "dnnrec/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "dnnrec/error.h"
#include "test_util.h"

#ifndef DNNREC_SOURCE_DIR
#define DNNREC_SOURCE_DIR "."
#endif

namespace dnnrec {
namespace {

// The message of the ConfigError that `fn` throws, or "" when it throws none.
template <class Fn>
std::string config_error(Fn fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ConfigTest, DefaultsValidate) { EXPECT_NO_THROW(Config().validate()); }

TEST(ConfigTest, FieldTableCoversEveryMemberOnce) {
  const auto& fields = config_fields();
  // 26 data + 9 features + 16 model + 37 train + 2 eval + 2 output members in config.h.
  EXPECT_EQ(fields.size(), 26u + 9u + 20u + 37u + 2u + 2u);
  std::set<std::string> keys;
  std::set<std::string> flags;
  for (const FieldInfo& f : fields) {
    EXPECT_TRUE(keys.insert(f.key).second) << "duplicate key " << f.key;
    if (!f.flag.empty()) {
      EXPECT_TRUE(flags.insert(f.flag).second) << "duplicate flag " << f.flag;
    }
    EXPECT_FALSE(f.help.empty()) << f.key;
    EXPECT_EQ(Config().get(f.key), f.default_value) << f.key;
  }
  EXPECT_EQ(fields.front().key, "data.dir");
  EXPECT_EQ(fields.back().key, "output.plots");
}

TEST(ConfigTest, FlagsTypesAndDefaults) {
  std::map<std::string, FieldInfo> by_key;
  for (const FieldInfo& f : config_fields()) by_key[f.key] = f;
  EXPECT_EQ(by_key["features.history_len"].flag, "seq-len");
  EXPECT_EQ(by_key["output.dir"].flag, "out");
  EXPECT_EQ(by_key["data.on_bad_row"].flag, "on-bad-row");
  EXPECT_EQ(by_key["train.min_delta"].flag, "");
  EXPECT_EQ(by_key["train.lr"].type, "float");
  EXPECT_EQ(by_key["train.lr"].default_value, "0.001");
  EXPECT_EQ(by_key["train.lr"].help, "Learning rate, > 0.");
  EXPECT_EQ(by_key["model.hidden"].type, "int_list");
  EXPECT_EQ(by_key["model.hidden"].default_value, "256,128,64");
  EXPECT_EQ(by_key["train.seed"].type, "int");
  EXPECT_EQ(by_key["features.use_year"].type, "bool");
  EXPECT_EQ(by_key["features.use_year"].default_value, "true");
  EXPECT_EQ(by_key["data.split"].type, "string");
}

TEST(ConfigTest, SetGetRoundTripEachType) {
  Config c;
  c.set("train.epochs", "12");
  EXPECT_EQ(c.train.epochs, 12);
  EXPECT_EQ(c.get("train.epochs"), "12");

  c.set("train.seed", "-9000000000");  // beyond int32: int64_t field
  EXPECT_EQ(c.train.seed, -9000000000LL);
  EXPECT_EQ(c.get("train.seed"), "-9000000000");

  c.set("train.lr", "0.0005");
  EXPECT_EQ(c.train.lr, 0.0005);
  EXPECT_EQ(c.get("train.lr"), "0.0005");

  c.set("data.split", "temporal");
  EXPECT_EQ(c.data.split, "temporal");
  EXPECT_EQ(c.get("data.split"), "temporal");

  c.set("model.batch_norm", "true");
  EXPECT_TRUE(c.model.batch_norm);
  EXPECT_EQ(c.get("model.batch_norm"), "true");

  c.set("model.hidden", "512, 32");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{512, 32}));
  EXPECT_EQ(c.get("model.hidden"), "512,32");
}

TEST(ConfigTest, FloatsPrintShortAndRoundTripExactly) {
  Config c;
  EXPECT_EQ(c.get("train.lr"), "0.001");  // not 0.0010000000000000000208
  EXPECT_EQ(c.get("data.val_ratio"), "0.1");
  EXPECT_EQ(c.get("data.max_rating"), "5.0");  // whole numbers keep a ".0"
  EXPECT_EQ(c.get("train.weight_decay"), "0.0");
  EXPECT_EQ(Config().get("train.momentum"), "0.9");
  Config small;
  small.train.lr = 0.0005;
  EXPECT_EQ(small.get("train.lr"), "0.0005");  // plain decimal, not 5e-04
  small.train.lr = 1e-9;
  EXPECT_EQ(small.get("train.lr"), "1e-09");  // tiny values use an exponent
  for (double v : {0.1 + 0.2, 1.0 / 3.0, 1e-7, 1e-6 * 3.3, 123456.789, 2.5e-300, 1e300, -4.25}) {
    Config a;
    a.train.lr = v;
    Config b;
    b.set("train.lr", a.get("train.lr"));
    EXPECT_EQ(b.train.lr, v) << a.get("train.lr");
  }
  c.set("lr", "+1e-3");
  EXPECT_EQ(c.train.lr, 1e-3);
  c.set("lr", " .5 ");
  EXPECT_EQ(c.train.lr, 0.5);
}

TEST(ConfigTest, BoolSpellings) {
  Config c;
  for (const char* yes : {"true", "True", "YES", "yes", "on", "1"}) {
    c.model.batch_norm = false;
    c.set("model.batch_norm", yes);
    EXPECT_TRUE(c.model.batch_norm) << yes;
  }
  for (const char* no : {"false", "FALSE", "no", "off", "Off", "0"}) {
    c.model.batch_norm = true;
    c.set("model.batch_norm", no);
    EXPECT_FALSE(c.model.batch_norm) << no;
  }
}

TEST(ConfigTest, BadValuesAreConfigErrorsNamingKeyAndValue) {
  Config c;
  EXPECT_EQ(config_error([&] { c.set("train.epochs", "abc"); }),
            "train.epochs: 'abc' is not an integer");
  EXPECT_EQ(config_error([&] { c.set("train.epochs", "2.5"); }),
            "train.epochs: '2.5' is not an integer");
  EXPECT_EQ(config_error([&] { c.set("train.epochs", "99999999999"); }),
            "train.epochs: '99999999999' is out of range for an integer");
  EXPECT_EQ(config_error([&] { c.set("train.lr", "fast"); }), "train.lr: 'fast' is not a number");
  EXPECT_EQ(config_error([&] { c.set("train.lr", "1e-3x"); }), "train.lr: '1e-3x' is not a number");
  EXPECT_EQ(config_error([&] { c.set("train.lr", "nan"); }),
            "train.lr: 'nan' is not a finite number");
  EXPECT_EQ(config_error([&] { c.set("train.shuffle", "maybe"); }),
            "train.shuffle: 'maybe' is not a boolean (true|false|yes|no|on|off|1|0)");
  EXPECT_EQ(config_error([&] { c.set("model.hidden", "256,,64"); }),
            "model.hidden: '256,,64' is not a list of integers (e.g. 256,128,64)");
  EXPECT_EQ(config_error([&] { c.set("model.hidden", "256,x"); }),
            "model.hidden: '256,x' is not a list of integers (e.g. 256,128,64)");
  // A failed set leaves the field as it was.
  EXPECT_EQ(c.train.epochs, Config().train.epochs);
  EXPECT_EQ(c.model.hidden, Config().model.hidden);
}

TEST(ConfigTest, IntListSpellings) {
  Config c;
  c.set("hidden", "256,128,64");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{256, 128, 64}));
  c.set("hidden", "[8, 4]");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{8, 4}));
  c.set("hidden", "16");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{16}));
  c.set("hidden", "");  // no hidden layers: a linear model on the embeddings
  EXPECT_TRUE(c.model.hidden.empty());
}

TEST(ConfigTest, ResolveBareAndFullKeys) {
  EXPECT_EQ(resolve_config_key("train.lr"), "train.lr");
  EXPECT_EQ(resolve_config_key("lr"), "train.lr");
  EXPECT_EQ(resolve_config_key("history_len"), "features.history_len");
  EXPECT_EQ(resolve_config_key("batch-size"), "train.batch_size");   // CLI spelling
  EXPECT_EQ(resolve_config_key("seq-len"), "features.history_len");  // flag name
  const std::string ambiguous = config_error([] { resolve_config_key("dir"); });
  EXPECT_EQ(ambiguous, "ambiguous config key 'dir'; use one of data.dir, output.dir");
}

TEST(ConfigTest, UnknownKeysSuggestTheNearest) {
  EXPECT_EQ(config_error([] { resolve_config_key("trian.lr"); }),
            "unknown config key 'trian.lr'; did you mean 'train.lr'?");
  EXPECT_EQ(config_error([] { resolve_config_key("epoch"); }),
            "unknown config key 'epoch'; did you mean 'train.epochs'?");
  EXPECT_EQ(config_error([] { resolve_config_key("model.lr"); }),
            "unknown config key 'model.lr'; did you mean 'train.lr'?");
  EXPECT_EQ(config_error([] { resolve_config_key("embeding_dim"); }),
            "unknown config key 'embeding_dim'; did you mean 'model.embedding_dim'?");
  EXPECT_EQ(config_error([] { resolve_config_key("zzzzzz"); }), "unknown config key 'zzzzzz'");
  Config c;
  EXPECT_EQ(config_error([&] { c.set("train.epoch", "3"); }),
            "unknown config key 'train.epoch'; did you mean 'train.epochs'?");
}

TEST(ConfigTest, NearestUsesEditDistanceWithALimit) {
  const std::vector<std::string> names = {"adam", "adamw", "sgd", "rmsprop"};
  EXPECT_EQ(nearest("adm", names), "adam");         // one insertion
  EXPECT_EQ(nearest("rmsporp", names), "rmsprop");  // two substitutions
  EXPECT_EQ(nearest("lbfgs", names), "");           // nothing within max(2, 5/3) = 2
  EXPECT_EQ(nearest("x", {"lr"}), "");              // a one-letter word is close to nothing
}

TEST(ConfigTest, PrecedenceDefaultsThenYamlThenSet) {
  Config c;
  c.merge_yaml_string("train:\n  epochs: 7\n  lr: 0.01\n");
  EXPECT_EQ(c.train.epochs, 7);  // YAML beats the default 5
  EXPECT_EQ(c.train.lr, 0.01);
  EXPECT_EQ(c.train.batch_size, 256);  // untouched keys keep their defaults
  c.set("epochs", "9");
  EXPECT_EQ(c.train.epochs, 9);  // --set beats YAML
  EXPECT_EQ(c.train.lr, 0.01);
}

TEST(ConfigTest, YamlIntListFromSequenceAndString) {
  Config c;
  c.merge_yaml_string("model:\n  hidden: [64, 32]\n");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{64, 32}));
  c.merge_yaml_string("model:\n  hidden:\n    - 8\n    - 4\n    - 2\n");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{8, 4, 2}));
  c.merge_yaml_string("model:\n  hidden: 256,128,64\n");
  EXPECT_EQ(c.model.hidden, (std::vector<int64_t>{256, 128, 64}));
  c.merge_yaml_string("model:\n  hidden: []\n");
  EXPECT_TRUE(c.model.hidden.empty());
}

TEST(ConfigTest, YamlUnknownKeyNamesFileLineAndSuggestion) {
  testing::TempDir dir;
  const std::string path = dir.file("run.yaml");
  testing::write_file(path, "model:\n  embedding_dim: 16\n  hiden: [8]\n");
  Config c;
  EXPECT_EQ(config_error([&] { c.merge_yaml_file(path); }),
            path + ": line 3: unknown key 'model.hiden'; did you mean 'model.hidden'?");
  EXPECT_EQ(c.model.embedding_dim, 32);  // a document with any problem changes nothing
}

TEST(ConfigTest, YamlReportsEveryProblemAtOnce) {
  const std::string yaml =
      "data:\n"              // line 1
      "  split: temporal\n"  // line 2
      "modle:\n"             // line 3
      "  hidden: [8]\n"      // line 4
      "train:\n"             // line 5
      "  epochs: abc\n"      // line 6
      "  lr: 0.01\n"         // line 7
      "  optimzer: sgd\n"    // line 8
      "  hidden: [1, x]\n";  // line 9
  Config c;
  const std::string message = config_error([&] { c.merge_yaml_string(yaml, "exp.yaml"); });
  EXPECT_EQ(message,
            "exp.yaml: line 3: unknown section 'modle'; did you mean 'model'?\n"
            "exp.yaml: line 6: train.epochs: 'abc' is not an integer\n"
            "exp.yaml: line 8: unknown key 'train.optimzer'; did you mean 'train.optimizer'?\n"
            "exp.yaml: line 9: unknown key 'train.hidden'; did you mean 'model.hidden'?");
  EXPECT_EQ(c.data.split, "random");
}

TEST(ConfigTest, YamlShapeErrors) {
  Config c;
  EXPECT_EQ(config_error([&] { c.merge_yaml_string("- 1\n- 2\n", "x.yaml"); }),
            "x.yaml: line 1: the top level must be a map of sections (data, features, model, "
            "train, eval, output)");
  EXPECT_EQ(config_error([&] { c.merge_yaml_string("train: 5\n", "x.yaml"); }),
            "x.yaml: line 1: section 'train' must be a map of keys");
  EXPECT_EQ(config_error([&] { c.merge_yaml_string("train:\n  lr: [1, 2]\n", "x.yaml"); }),
            "x.yaml: line 2: train.lr: expected a single value, got a sequence");
  EXPECT_EQ(config_error([&] { c.merge_yaml_string("train:\n  epochs:\n", "x.yaml"); }),
            "x.yaml: line 2: train.epochs: missing value");
  EXPECT_EQ(
      config_error([&] { c.merge_yaml_string("train:\n  epochs: 2\n  epochs: 3\n", "x.yaml"); }),
      "x.yaml: line 3: duplicate key 'train.epochs'");
}

TEST(ConfigTest, YamlSyntaxErrorsNameFileAndLine) {
  Config c;
  const std::string message =
      config_error([&] { c.merge_yaml_string("train:\n  epochs: [1, 2\n", "bad.yaml"); });
  EXPECT_TRUE(contains(message, "bad.yaml: line ")) << message;
  EXPECT_TRUE(contains(message, "invalid YAML")) << message;
}

TEST(ConfigTest, MissingYamlFileIsNamed) {
  Config c;
  EXPECT_EQ(config_error([&] { c.merge_yaml_file("/nonexistent/dnnrec.yaml"); }),
            "config file '/nonexistent/dnnrec.yaml' not found");
}

TEST(ConfigTest, EmptyYamlChangesNothing) {
  Config c;
  c.merge_yaml_string("");
  c.merge_yaml_string("# only a comment\n");
  c.merge_yaml_string("output:\n");
  EXPECT_EQ(c.to_yaml(), Config().to_yaml());
}

TEST(ConfigTest, ToYamlHasEveryKeyAndRoundTrips) {
  Config c;
  const std::string yaml = c.to_yaml();
  EXPECT_TRUE(contains(yaml, "  hidden: [256, 128, 64]\n")) << yaml;
  EXPECT_TRUE(contains(yaml, "  # Learning rate, > 0.\n  lr: 0.001\n")) << yaml;
  EXPECT_TRUE(contains(yaml, "  dir: \"\"\n")) << yaml;
  const YAML::Node root = YAML::Load(yaml);
  size_t keys = 0;
  for (const auto& section : root) keys += section.second.size();
  EXPECT_EQ(keys, config_fields().size());

  Config back;
  back.merge_yaml_string(yaml);
  EXPECT_EQ(back.to_yaml(), yaml);

  // Non-default values, including strings that need quoting, survive the trip too.
  Config changed;
  changed.output.dir = "runs/a b: \"c\"\\d";
  changed.data.split = "yes";  // would read as a YAML boolean unquoted
  changed.model.hidden = {};
  changed.train.lr = 0.1 + 0.2;
  changed.train.shuffle = false;
  Config reloaded;
  reloaded.merge_yaml_string(changed.to_yaml());
  EXPECT_EQ(reloaded.to_yaml(), changed.to_yaml());
  EXPECT_EQ(reloaded.output.dir, changed.output.dir);
  EXPECT_EQ(reloaded.train.lr, 0.1 + 0.2);
  EXPECT_TRUE(reloaded.model.hidden.empty());
}

TEST(ConfigTest, DefaultYamlFileEqualsBuiltInDefaults) {
  const std::string path = std::string(DNNREC_SOURCE_DIR) + "/configs/default.yaml";
  Config c;
  ASSERT_NO_THROW(c.merge_yaml_file(path));
  EXPECT_EQ(c.to_yaml(), Config().to_yaml());
  // It spells out every key, so it documents every option.
  const YAML::Node root = YAML::LoadFile(path);
  size_t keys = 0;
  for (const auto& section : root) keys += section.second.size();
  EXPECT_EQ(keys, config_fields().size());
  // Its comments are the help texts of the field table, word for word: past its header it is
  // exactly what `dnnrec config` prints.
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string file = text.str();
  const size_t body = file.find("\ndata:");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(file.substr(body + 1), Config().to_yaml());
}

TEST(ConfigTest, ValidateCollectsEveryProblem) {
  Config c;
  c.data.split = "randm";
  c.data.val_ratio = 0.6;
  c.data.test_ratio = 0.5;
  c.model.embedding_dim = 0;
  c.model.hidden = {64, 0};
  c.model.dropout = 1.0;
  c.train.epochs = 0;
  c.train.lr = 0;
  c.train.optimizer = "adamm";
  const std::string message = config_error([&] { c.validate(); });
  EXPECT_EQ(message,
            "data.split: must be one of random | temporal | leave-last | random-per-user, got "
            "'randm'; did you mean 'random'?\n"
            "data.val_ratio + data.test_ratio: must be < 1 (something must be left to train "
            "on), got 0.6 + 0.5\n"
            "model.embedding_dim: must be >= 1, got 0\n"
            "model.hidden: layer sizes must be >= 1, got 0 at position 2\n"
            "model.dropout: must be in [0, 1), got 1.0\n"
            "train.epochs: must be >= 1, got 0\n"
            "train.lr: must be > 0.0, got 0.0\n"
            "train.optimizer: must be one of adam | adamw | sgd | adagrad | rmsprop, got "
            "'adamm'; did you mean 'adam'?");
}

TEST(ConfigTest, ValidateRanges) {
  auto problem = [](void (*edit)(Config&)) {
    Config c;
    edit(c);
    return config_error([&] { c.validate(); });
  };
  EXPECT_EQ(problem([](Config& c) { c.data.on_bad_row = "ignore"; }),
            "data.on_bad_row: must be one of fail | skip, got 'ignore'");
  EXPECT_EQ(problem([](Config& c) { c.data.min_rating = 5; }),
            "data.min_rating: must be < data.max_rating (5.0), got 5.0");
  EXPECT_EQ(problem([](Config& c) { c.features.history_len = -1; }),
            "features.history_len: must be >= 0, got -1");
  EXPECT_EQ(problem([](Config& c) { c.features.padding = "left"; }),
            "features.padding: must be one of pre | post, got 'left'");
  EXPECT_EQ(problem([](Config& c) { c.model.activation = "relu6"; }),
            "model.activation: must be one of relu | gelu | tanh | sigmoid | leaky_relu, got "
            "'relu6'; did you mean 'relu'?");
  EXPECT_EQ(problem([](Config& c) { c.train.momentum = -0.1; }),
            "train.momentum: must be in [0, 1), got -0.1");
  EXPECT_EQ(problem([](Config& c) { c.train.huber_delta = 0; }),
            "train.huber_delta: must be > 0.0, got 0.0");
  EXPECT_EQ(problem([](Config& c) { c.train.device = "gpu"; }),
            "train.device: must be one of cpu | cuda | auto, got 'gpu'; did you mean 'cuda'?");
  EXPECT_EQ(problem([](Config& c) { c.train.mode = "maximum"; }),
            "train.mode: must be one of auto | min | max, got 'maximum'");
  EXPECT_EQ(problem([](Config& c) { c.train.min_delta = -1; }),
            "train.min_delta: must be >= 0.0, got -1.0");
  // Edges that are allowed.
  EXPECT_EQ(problem([](Config& c) {
              c.features.history_len = 0;
              c.model.dropout = 0;
              c.train.threads = 0;
              c.train.checkpoint_every = 0;
              c.model.hidden = {};
              c.model.name = "not-checked-here";  // the model registry checks names
            }),
            "");
}

TEST(ConfigTest, LossMustMatchTask) {
  Config c;
  c.train.loss = "bce";
  EXPECT_EQ(config_error([&] { c.validate(); }),
            "train.loss: bce needs train.task binary, but the task is rating");
  c.train.task = "binary";
  c.train.monitor = "val_auc";
  EXPECT_NO_THROW(c.validate());
  c.train.loss = "huber";
  EXPECT_EQ(config_error([&] { c.validate(); }),
            "train.loss: huber needs train.task rating, but the task is binary");
}

TEST(ConfigTest, MonitorMustBeAMetricOfTheTask) {
  Config c;
  c.train.task = "binary";
  EXPECT_NO_THROW(c.validate());  // the default monitor "auto" follows the task
  EXPECT_EQ(c.effective_monitor(), "val_auc");
  c.train.monitor = "val_rmse";  // a metric of the rating task
  EXPECT_EQ(config_error([&] { c.validate(); }),
            "train.monitor: 'val_rmse' is not a metric of task binary (auto | train_loss | "
            "val_auc | val_logloss | val_accuracy); did you mean 'val_auc'?");
  c.train.monitor = "val_acuracy";
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }), "did you mean 'val_accuracy'?"));
  c.train.monitor = "train_loss";
  EXPECT_NO_THROW(c.validate());

  Config rating;
  rating.train.monitor = "val_auc";
  EXPECT_TRUE(contains(config_error([&] { rating.validate(); }), "did you mean 'val_rmse'?"));
  rating.train.monitor = "val_mae";
  EXPECT_NO_THROW(rating.validate());
}

TEST(ConfigTest, EffectiveLossAndMode) {
  Config c;
  EXPECT_EQ(c.effective_loss(), "mse");  // auto + rating
  EXPECT_EQ(c.effective_monitor(), "val_rmse");
  EXPECT_EQ(c.effective_mode(), "min");  // auto + val_rmse
  c.train.task = "binary";
  EXPECT_EQ(c.effective_loss(), "bce");
  EXPECT_EQ(c.effective_mode(), "max");  // auto monitor of binary: val_auc
  c.train.monitor = "val_auc";
  EXPECT_EQ(c.effective_mode(), "max");
  c.train.monitor = "val_accuracy";
  EXPECT_EQ(c.effective_mode(), "max");
  c.train.monitor = "val_logloss";
  EXPECT_EQ(c.effective_mode(), "min");
  c.train.mode = "max";
  EXPECT_EQ(c.effective_mode(), "max");  // explicit mode wins
  c.train.task = "rating";
  c.train.loss = "huber";
  EXPECT_EQ(c.effective_loss(), "huber");
}

// model.members (a list of names) and model.member_weights (a list of numbers): YAML lists or
// comma-separated text, written back as YAML lists; a blend needs two or more members and one
// weight each; a config file's relative members are taken from its folder.
TEST(ConfigTest, ABlendNamesItsMembersAndTheirWeightsInLists) {
  Config c;
  c.merge_yaml_string(
      "data:\n  split: leave-last\ntrain:\n  task: ranking\nmodel:\n  name: blend\n"
      "  members: [a.yaml, runs/x/best.pt]\n  member_weights: [0.7, 0.3]\n");
  EXPECT_EQ(c.model.members, (std::vector<std::string>{"a.yaml", "runs/x/best.pt"}));
  EXPECT_EQ(c.model.member_weights, (std::vector<double>{0.7, 0.3}));
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.get("model.members"), "a.yaml,runs/x/best.pt");
  EXPECT_EQ(c.get("model.member_weights"), "0.7,0.3");
  EXPECT_TRUE(contains(c.to_yaml(), "  members: [a.yaml, runs/x/best.pt]\n"));
  EXPECT_TRUE(contains(c.to_yaml(), "  member_weights: [0.7, 0.3]\n"));
  Config back;
  back.merge_yaml_string(c.to_yaml());
  EXPECT_EQ(back.model.members, c.model.members);
  EXPECT_EQ(back.model.member_weights, c.model.member_weights);
  c.set("model.members", " b.yaml , c.yaml,d.yaml ");
  EXPECT_EQ(c.model.members, (std::vector<std::string>{"b.yaml", "c.yaml", "d.yaml"}));
  c.set("model.member_weights", "[1, 2, 0]");
  EXPECT_NO_THROW(c.validate());
  std::map<std::string, std::string> types;
  for (const FieldInfo& f : config_fields()) types[f.key] = f.type;
  EXPECT_EQ(types["model.members"], "string_list");
  EXPECT_EQ(types["model.member_weights"], "float_list");

  // Bad values and bad combinations, each named.
  EXPECT_TRUE(contains(config_error([&] { c.set("model.member_weights", "0.5,abc"); }),
                       "is not a list of numbers"));
  EXPECT_TRUE(contains(config_error([&] { c.set("model.members", "a.yaml,,b.yaml"); }),
                       "an item is empty"));
  c.set("model.member_weights", "1,-1,0");
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }),
                       "model.member_weights: values must be >= 0, got -1.0 at position 2"));
  c.set("model.member_weights", "0,0,0");
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }), "at least one weight must be > 0"));
  c.set("model.member_weights", "1,2");
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }),
                       "model.member_weights: one weight per member: 3 members, 2 weights"));
  c.set("model.member_weights", "");
  c.set("model.members", "a.yaml");
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }),
                       "model.members: a blend needs two or more members"));
  c.model.name = "ease";
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }),
                       "model.members: belongs to model blend, not 'ease'"));
  c.model.members.clear();
  EXPECT_NO_THROW(c.validate());
  c.model.name = "blend";
  c.train.task = "rating";
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }), "'blend' ranks items"));

  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("sub"));
  testing::write_file(dir.file("sub/blend.yaml"),
                      "train:\n  task: ranking\ndata:\n  split: leave-last\nmodel:\n"
                      "  name: blend\n  members: [m.yaml, ../n.yaml, /abs/run]\n");
  Config file;
  file.merge_yaml_file(dir.file("sub/blend.yaml"));
  EXPECT_EQ(file.model.members,
            (std::vector<std::string>{dir.file("sub/m.yaml"), dir.file("n.yaml"), "/abs/run"}));
  // A later file that does not name members leaves them as they are.
  testing::write_file(dir.file("other.yaml"), "model:\n  member_weights: [1, 1, 2]\n");
  file.merge_yaml_file(dir.file("other.yaml"));
  EXPECT_EQ(file.model.members[0], dir.file("sub/m.yaml"));
}

TEST(ConfigTest, TheRankingTaskTakesRankingModelsSplitsAndMetrics) {
  Config c;
  c.train.task = "ranking";
  c.data.split = "random-per-user";
  c.model.name = "ease";
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.effective_monitor(), "val_ndcg@10");
  EXPECT_EQ(c.effective_mode(), "max");
  EXPECT_EQ(c.effective_loss(), "none");
  c.model.name = "two-tower";
  EXPECT_EQ(c.effective_loss(), "sampled-softmax");
  c.eval.topk = {5, 50};
  EXPECT_EQ(c.effective_monitor(), "val_ndcg@5");
  c.train.monitor = "val_recall@50";
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(c.effective_mode(), "max");
  c.train.monitor = "val_recall@10";  // not a cut-off of eval.topk
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }), "did you mean 'val_recall@50'?"));
  c.train.monitor = "val_rmse";
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }), "is not a metric of task ranking"));
  c.train.monitor = "auto";
  c.eval.topk = {};
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }), "eval.topk: needs at least one value"));
  c.eval.topk = {10, 0};
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }),
                       "eval.topk: values must be >= 1, got 0 at position 2"));
  c.eval.topk = {10};
  c.model.name = "wide-deep";
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }),
                       "model.name: 'wide-deep' is not a ranking model; with train.task ranking "
                       "use one of pop | itemknn | ease | bpr | two-tower | sasrec | dnn | deepfm "
                       "| neumf | blend"));
  c.model.name = "bpr";
  c.model.recency_tau = 5;
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }),
                       "model.recency_tau: weighs the history of itemknn and ease only"));
  c.model.name = "ease";
  c.features.history_len = 0;
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }),
                       "features.history_len: model.recency_tau reads the latest history_len"));
  c.features.history_len = 50;
  EXPECT_NO_THROW(c.validate());
  c.model.recency_tau = 0;
  // The feature models rank with binary cross-entropy over sampled negatives.
  for (const char* name : {"dnn", "deepfm", "neumf"}) {
    c.model.name = name;
    EXPECT_NO_THROW(c.validate()) << name;
    EXPECT_EQ(c.effective_loss(), "bce");
  }
  c.model.name = "bpr";
  c.data.split = "random";
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }),
                       "data.split: the ranking task splits each user's interactions"));
  c.data.split = "leave-last";
  c.train.loss = "mse";
  EXPECT_TRUE(contains(config_error([&] { c.validate(); }), "train.loss: the ranking models"));

  Config rating;
  rating.model.name = "ease";
  EXPECT_TRUE(contains(config_error([&] { rating.validate(); }),
                       "model.name: 'ease' ranks items: it needs train.task ranking"));
  // random-per-user serves the rating task too, with the others history of a random split.
  rating.model.name = "dnn";
  rating.data.split = "random-per-user";
  EXPECT_NO_THROW(rating.validate());
  EXPECT_EQ(rating.effective_history(), "others");
}

}  // namespace
}  // namespace dnnrec
