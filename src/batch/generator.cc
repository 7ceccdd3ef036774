// Synthetic product catalog: fixed schema, per-entity seeded draws, NDJSON via rapidjson.
//
// Determinism: entities come in blocks of kBlock ordinals; each block seeds a std::mt19937_64
// (whose output sequence the standard fixes) with splitmix64(splitmix64(seed) ^ block), and its
// entities consume that stream in order. Every draw maps engine output to values with integer
// arithmetic only (no std::*_distribution, no libm), so output is byte-identical across platforms
// and compilers. Two draws never share one expression (operand/argument order is unspecified).
// A range starting inside a block first replays the block's earlier entities (at most
// kBlock - 1, discarded), so output does not depend on how the ordinal range is chunked. Seeding
// per block rather than per entity matters: seeding an mt19937_64 costs ~1,000 engine draws.
#include "batch/generator.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string_view>

#include "eavdb/error.h"

namespace eavdb::batch {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// ---- schema ---------------------------------------------------------------------------------

// Output key order; index into kFields.
enum Field : int {
  kSku, kName, kPrice, kCategory, kBrand, kStock, kDescription, kRating, kReviewCount, kColor,
  kWeightKg, kReleaseDate, kMaterial, kSize, kWarrantyMonths, kCountryOfOrigin, kDiscountPct,
  kWidthCm, kHeightCm, kDepthCm, kLastRestockedAt, kPackQuantity, kVoltage, kWattage,
  kBatteryLifeH, kScreenSizeIn, kModelNumber, kIsbn, kAuthor, kPageCount, kPublisher, kLanguage,
  kCareInstructions, kIngredients, kCalories, kExpiryDate, kSpecifications, kThreadCount,
  kResolution, kEnergyRating, kMaxLoadKg, kDiscontinuedAt, kFieldCount
};

struct FieldSpec {
  std::string_view code;
  ValueType type;
  double presence;
};

using VT = ValueType;
// Presence decays roughly like a Zipf tail: three near-universal attributes, a handful of common
// ones, then a long run of rare, category-specific ones.
constexpr std::array<FieldSpec, kFieldCount> kFields = {{
    {"sku", VT::kVarchar, 1.0},
    {"name", VT::kVarchar, 1.0},
    {"price", VT::kDecimal, 0.97},
    {"category", VT::kVarchar, 0.94},
    {"brand", VT::kVarchar, 0.90},
    {"stock", VT::kInt, 0.82},
    {"description", VT::kText, 0.70},
    {"rating", VT::kDecimal, 0.55},
    {"review_count", VT::kInt, 0.50},
    {"color", VT::kVarchar, 0.42},
    {"weight_kg", VT::kDecimal, 0.38},
    {"release_date", VT::kDatetime, 0.34},
    {"material", VT::kVarchar, 0.30},
    {"size", VT::kVarchar, 0.26},
    {"warranty_months", VT::kInt, 0.23},
    {"country_of_origin", VT::kVarchar, 0.21},
    {"discount_pct", VT::kDecimal, 0.18},
    {"width_cm", VT::kDecimal, 0.16},
    {"height_cm", VT::kDecimal, 0.15},
    {"depth_cm", VT::kDecimal, 0.14},
    {"last_restocked_at", VT::kDatetime, 0.12},
    {"pack_quantity", VT::kInt, 0.11},
    {"voltage", VT::kInt, 0.10},
    {"wattage", VT::kInt, 0.09},
    {"battery_life_h", VT::kDecimal, 0.08},
    {"screen_size_in", VT::kDecimal, 0.07},
    {"model_number", VT::kVarchar, 0.065},
    {"isbn", VT::kVarchar, 0.06},
    {"author", VT::kVarchar, 0.055},
    {"page_count", VT::kInt, 0.05},
    {"publisher", VT::kVarchar, 0.045},
    {"language", VT::kVarchar, 0.04},
    {"care_instructions", VT::kText, 0.035},
    {"ingredients", VT::kText, 0.03},
    {"calories", VT::kInt, 0.025},
    {"expiry_date", VT::kDatetime, 0.02},
    {"specifications", VT::kText, 0.018},
    {"thread_count", VT::kInt, 0.015},
    {"resolution", VT::kVarchar, 0.012},
    {"energy_rating", VT::kVarchar, 0.01},
    {"max_load_kg", VT::kDecimal, 0.008},
    {"discontinued_at", VT::kDatetime, 0.005},
}};

// Unix seconds of 2000-01-01, 2005-01-01, 2023-01-01, 2024-01-01 and 2026-01-01 (UTC).
constexpr int64_t k2000 = 946684800, k2005 = 1104537600, k2023 = 1672531200, k2024 = 1704067200,
                  k2026 = 1767225600;
constexpr int64_t kDay = 86400;

// Entities per engine seeding (see the top of the file).
constexpr int64_t kBlock = 64;

// ---- random draws ---------------------------------------------------------------------------

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// High 64 bits of the 128-bit product a * b, portably.
uint64_t mulhi64(uint64_t a, uint64_t b) {
  const uint64_t a_lo = a & 0xFFFFFFFF, a_hi = a >> 32, b_lo = b & 0xFFFFFFFF, b_hi = b >> 32;
  const uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi;
  const uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFF) + lo_hi;
  return a_hi * b_hi + (hi_lo >> 32) + (cross >> 32);
}

// std::mt19937_64 plus integer-only mappings to ranges and skewed shapes.
class Rng {
 public:
  void reset(uint64_t seed, int64_t block) {
    engine_.seed(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(block)));
  }
  uint64_t next() { return engine_(); }
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias below n / 2^64).
  uint64_t below(uint64_t n) { return mulhi64(next(), n); }
  // Uniform in [lo, hi].
  int64_t between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
  }
  // True with probability threshold / 2^53.
  bool chance(uint64_t threshold) { return (next() >> 11) < threshold; }
  // lo + (hi - lo + 1) * u^3 for u uniform in [0, 1): a power-law skew towards lo. hi - lo < 2^40.
  int64_t skewed(int64_t lo, int64_t hi) {
    const uint64_t u = next() >> 44;  // 20 bits
    const uint64_t cube = (((u * u) >> 20) * u) >> 20;
    return lo + static_cast<int64_t>((static_cast<uint64_t>(hi - lo + 1) * cube) >> 20);
  }

 private:
  std::mt19937_64 engine_;
};

// Zipf (s = 1) over n ranks: rank r has weight 1 / (r + 1). Drawn by one table lookup: the top
// `bits` bits of a draw index a table of 2^bits slots, each holding the rank whose share of the
// cumulative weight covers the slot's midpoint; `bits` gives the rarest rank at least 16 slots.
class Zipf {
 public:
  explicit Zipf(size_t n) {
    std::vector<uint64_t> cdf(n);
    uint64_t total = 0;
    for (size_t r = 0; r < n; ++r) cdf[r] = total += (uint64_t{1} << 40) / (r + 1);
    while (bits_ < 20 && (uint64_t{1} << bits_) / 16 < total / cdf[0] * n) ++bits_;
    slots_.resize(size_t{1} << bits_);
    for (size_t s = 0; s < slots_.size(); ++s) {
      const uint64_t mid = mulhi64((2 * s + 1) << (63 - bits_), total);  // total * (s + 0.5) / 2^bits
      slots_[s] = static_cast<uint16_t>(std::upper_bound(cdf.begin(), cdf.end(), mid) - cdf.begin());
    }
  }
  size_t draw(Rng& rng) const { return slots_[rng.next() >> (64 - bits_)]; }
  // Draw from 16 uniform bits (only for tables of at most 2^16 slots).
  size_t draw16(uint64_t lane) const { return slots_[lane >> (16 - bits_)]; }
  int bits() const { return bits_; }

 private:
  int bits_ = 1;
  std::vector<uint16_t> slots_;
};

// A list of values drawn Zipf-style: the first is the most common.
class Choice {
 public:
  Choice(std::initializer_list<std::string_view> items) : items_(items), zipf_(items_.size()) {}
  std::string_view draw(Rng& rng) const { return items_[zipf_.draw(rng)]; }
  std::string_view uniform(Rng& rng) const { return items_[rng.below(items_.size())]; }

 private:
  std::vector<std::string_view> items_;
  Zipf zipf_;
};

// Prose from a fixed vocabulary: sentences of 6..16 Zipf-drawn words, the first capitalized.
// A word never repeats the one before it. One engine draw yields four 16-bit lanes (a sentence
// length or a word each). Words live in 16-byte slots: each is appended with one fixed-size copy.
class Prose {
 public:
  Prose(std::initializer_list<std::string_view> words) : zipf_(words.size()) {
    assert(zipf_.bits() <= 16 && "draw16 needs a table of at most 2^16 slots");
    for (std::string_view w : words) {
      assert(!w.empty() && w.size() < sizeof(Word::bytes));
      Word word{};
      std::memcpy(word.bytes, w.data(), w.size());
      word.len = static_cast<uint8_t>(w.size());
      words_.push_back(word);
      if (word.bytes[0] >= 'a' && word.bytes[0] <= 'z') word.bytes[0] = static_cast<char>(word.bytes[0] - 'a' + 'A');
      caps_.push_back(word);
    }
  }

  // Replaces `s` with prose at least `target` bytes long (at most 17 bytes longer).
  void write(std::string& s, Rng& rng, size_t target) const {
    s.resize(target + sizeof(Word::bytes) + 4);
    char* const begin = s.data();
    char* p = begin;
    char* const goal = begin + target;
    uint64_t bits = 0;
    int lanes = 0;
    size_t prev = words_.size();
    auto lane = [&] {
      if (lanes == 0) {
        bits = rng.next();
        lanes = 4;
      }
      --lanes;
      const uint64_t v = bits & 0xFFFF;
      bits >>= 16;
      return v;
    };
    while (p < goal) {
      if (p != begin) *p++ = ' ';
      const uint64_t n = 6 + lane() % 11;
      for (uint64_t i = 0; i < n && p < goal; ++i) {
        if (i > 0) *p++ = ' ';
        size_t r = zipf_.draw16(lane());
        if (r == prev) r = (r + 1) % words_.size();  // no "the the"
        prev = r;
        const Word& w = (i == 0 ? caps_ : words_)[r];
        std::memcpy(p, w.bytes, sizeof w.bytes);  // p < goal: the slack above holds the slot
        p += w.len;
      }
      *p++ = '.';
    }
    s.resize(static_cast<size_t>(p - begin));
  }

 private:
  struct Word {
    char bytes[16];
    uint8_t len;
  };
  Zipf zipf_;
  std::vector<Word> words_, caps_;
};

// Log-normal-ish integers: bucket k ~ Binomial(48, 1/2) (sd ~3.46 buckets) picks the interval
// [b_k, b_{k+1}) with b_24 = median and b_{k+1} = b_k * factor; the value is uniform inside it.
class LogNormal {
 public:
  LogNormal(uint64_t median, uint64_t factor_permille) {
    bounds_[24] = median << 16;  // 16 fractional bits keep the small buckets distinct
    for (size_t k = 25; k < bounds_.size(); ++k) bounds_[k] = bounds_[k - 1] * factor_permille / 1000;
    for (size_t k = 24; k-- > 0;) bounds_[k] = bounds_[k + 1] * 1000 / factor_permille;
  }
  int64_t draw(Rng& rng) const {
    const int k = std::popcount(rng.next() & ((uint64_t{1} << 48) - 1));
    const uint64_t lo = bounds_[k], hi = bounds_[k + 1];
    return static_cast<int64_t>((lo + rng.below(hi - lo + 1)) >> 16);
  }

 private:
  std::array<uint64_t, 50> bounds_{};
};

// ---- vocabularies ---------------------------------------------------------------------------

struct Category {
  std::string_view name;
  std::array<std::string_view, 4> nouns;
};

constexpr std::array<Category, 30> kCategories = {{
    {"Electronics", {"Bluetooth Speaker", "Power Bank", "USB-C Hub", "Smart Plug"}},
    {"Books", {"Novel", "Cookbook", "Field Guide", "Biography"}},
    {"Home & Kitchen", {"Chef's Knife", "Dutch Oven", "Cutting Board", "Kettle"}},
    {"Clothing", {"T-Shirt", "Hoodie", "Rain Jacket", "Chinos"}},
    {"Shoes", {"Running Shoes", "Hiking Boots", "Sneakers", "Sandals"}},
    {"Sports & Outdoors", {"Yoga Mat", "Tent", "Water Bottle", "Trekking Poles"}},
    {"Toys & Games", {"Puzzle", "Building Set", "Board Game", "Plush Bear"}},
    {"Beauty", {"Face Serum", "Moisturizer", "Lip Balm", "Shampoo"}},
    {"Health", {"Vitamin D3", "Thermometer", "First Aid Kit", "Heating Pad"}},
    {"Grocery", {"Coffee Beans", "Green Tea", "Olive Oil", "Granola"}},
    {"Office Products", {"Notebook", "Desk Lamp", "Stapler", "Gel Pens"}},
    {"Tools & Home Improvement", {"Cordless Drill", "Tape Measure", "Socket Set", "Stud Finder"}},
    {"Automotive", {"Dash Cam", "Tire Inflator", "Car Charger", "Seat Cover"}},
    {"Garden", {"Garden Hose", "Pruning Shears", "Planter", "Bird Feeder"}},
    {"Pet Supplies", {"Dog Bed", "Cat Tree", "Chew Toy", "Pet Carrier"}},
    {"Baby", {"Stroller", "Baby Monitor", "Bottle Set", "Play Mat"}},
    {"Jewelry", {"Necklace", "Ring", "Bracelet", "Earrings"}},
    {"Watches", {"Smartwatch", "Dive Watch", "Chronograph", "Watch Band"}},
    {"Computers", {"Laptop", "Monitor", "Mechanical Keyboard", "Wireless Mouse"}},
    {"Cell Phones", {"Smartphone", "Phone Case", "Screen Protector", "Wireless Charger"}},
    {"Video Games", {"Game Controller", "Gaming Headset", "Racing Wheel", "Console"}},
    {"Music", {"12\" Vinyl Record", "Acoustic Guitar", "Keyboard Stand", "Ukulele"}},
    {"Movies & TV", {"Blu-ray Box Set", "DVD", "4K Blu-ray", "Documentary"}},
    {"Appliances", {"Air Fryer", "Blender", "Dishwasher", "Microwave"}},
    {"Furniture", {"Office Chair", "Bookshelf", "Sofa", "Coffee Table"}},
    {"Luggage", {"Carry-On", "Backpack", "Duffel Bag", "Packing Cubes"}},
    {"Arts & Crafts", {"Watercolor Set", "Sketchbook", "Yarn", "Glue Gun"}},
    {"Industrial & Scientific", {"Safety Goggles", "Multimeter", "Lab Beaker", "Work Gloves"}},
    {"Camera & Photo", {"Mirrorless Camera", "Tripod", "Camera Lens", "Memory Card"}},
    {"Software", {"Antivirus Suite", "Photo Editor", "Office Suite", "VPN Subscription"}},
}};

constexpr std::array<std::string_view, 25> kBrandHeads = {
    "Nor", "Alt", "Vel", "Zen", "Kor", "Lum", "Bri", "Cas", "Dex", "Fen", "Gal", "Hal", "Iv",
    "Jun", "Kel", "Mar", "Nex", "Orb", "Pax", "Quin", "Riv", "Sol", "Tor", "Ul", "Vor"};
constexpr std::array<std::string_view, 20> kBrandTails = {
    "vik", "ura", "ex", "ona", "ix", "tek", "ara", "is", "on", "ell",
    "ia", "or", "io", "um", "ent", "ada", "ar", "en", "ova", "ico"};

// Everything built once and shared read-only by all generators.
struct Tables {
  Zipf category_zipf{kCategories.size()};
  std::vector<std::string> brands = [] {
    std::vector<std::string> b;  // 500 names; rank = tail-major so popular brands look varied
    for (std::string_view tail : kBrandTails)
      for (std::string_view head : kBrandHeads) b.push_back(std::string(head) + std::string(tail));
    return b;
  }();
  Zipf brand_zipf{brands.size()};
  LogNormal price_cents{2500, 1335};  // median ~$25, sigma(ln) ~1
  LogNormal weight_grams{900, 1300};  // median ~0.9 kg
  Choice adjectives{"Classic", "Compact", "Premium", "Ultra", "Eco", "Pro", "Deluxe", "Essential",
                    "Portable", "Smart", "Heavy-Duty", "Lightweight", "Vintage", "Modern",
                    "Wireless", "Ergonomic", "Organic", "Rugged", "Slim", "Advanced", "Everyday",
                    "Travel", "Signature", "Studio"};
  Choice colors{"Black", "White", "Silver", "Blue", "Gray", "Red", "Navy", "Green", "Beige",
                "Pink", "Brown", "Gold", "Purple", "Yellow", "Orange", "Teal", "Rose Gold",
                "Charcoal", "Olive", "Burgundy"};
  Choice materials{"Plastic", "Cotton", "Stainless Steel", "Aluminum", "Polyester", "Wood",
                   "Leather", "Glass", "Silicone", "Ceramic", "Nylon", "Bamboo", "Wool",
                   "Merino Wool", "Linen", "Rubber", "Carbon Fiber", "Cast Iron", "Titanium",
                   "Recycled Paper"};
  Choice sizes{"M", "L", "S", "XL", "One Size", "XS", "XXL", "Small", "Medium", "Large",
               "EU 42", "EU 40", "EU 44", "EU 38", "Queen", "King", "Twin", "3XL"};
  Choice warranty_months{"12", "24", "6", "36", "60", "3", "120"};
  Choice countries{"China", "United States", "Germany", "Vietnam", "India", "Japan", "Mexico",
                   "Italy", "Taiwan", "South Korea", "Bangladesh", "Turkey", "Poland", "France",
                   "Portugal", "Thailand", "Canada", "United Kingdom", "Indonesia", "Côte d'Ivoire"};
  Choice pack_quantity{"1", "2", "4", "3", "6", "12", "10", "24", "50", "100"};
  Choice voltage{"230", "120", "12", "5", "220", "240", "110", "24", "9", "3"};
  Choice screen_inches{"6.1", "15.6", "27.0", "6.7", "13.3", "24.0", "55.0", "10.9", "14.0",
                       "65.0", "32.0", "75.0"};
  Choice first_names{"Maria", "James", "Aiko", "Olusegun", "Elena", "Mohammed", "Sofia", "Liam",
                     "Priya", "Chen", "Ana", "Lukas", "Fatima", "Noah", "Zoë", "Mateo", "Ingrid",
                     "Kwame", "Yuki", "Daniel"};
  Choice last_names{"Smith", "García", "Nakamura", "Okafor", "Rossi", "Khan", "Müller", "Silva",
                    "Ivanova", "Wang", "Dubois", "Kowalski", "Haddad", "O'Brien", "Andersson",
                    "Patel", "Moreau", "Novak", "Santos", "Kim"};
  Choice publishers{"Penguin Random House", "HarperCollins", "Simon & Schuster", "Macmillan",
                    "Hachette", "Scholastic", "Wiley", "O'Reilly Media", "Bloomsbury",
                    "Oxford University Press", "Springer", "Pearson", "Faber & Faber",
                    "Gallimard", "Kodansha"};
  Choice languages{"English", "Spanish", "German", "French", "Chinese", "Japanese", "Italian",
                   "Portuguese", "Russian", "Korean", "Dutch", "Polish"};
  Choice thread_count{"300", "400", "200", "600", "800", "1000"};
  Choice resolutions{"1920x1080", "3840x2160", "2560x1440", "1280x720", "7680x4320", "3440x1440"};
  Choice energy_ratings{"A", "A+", "B", "A++", "C", "A+++", "D", "E", "F", "G"};
  Prose words{"the", "and", "with", "for", "of", "a", "to", "in", "is", "your", "design",
               "quality", "durable", "easy", "use", "every", "day", "made", "from", "premium",
               "materials", "comfortable", "lightweight", "perfect", "home", "travel", "office",
               "built", "last", "features", "includes", "compatible", "most", "modern", "simple",
               "clean", "fast", "reliable", "performance", "style", "great", "gift", "family",
               "designed", "long", "lasting", "battery", "water", "resistant", "finish",
               "adjustable", "fit", "all", "sizes", "soft", "touch", "smooth", "quiet", "powerful",
               "efficient", "energy", "saving", "secure", "storage", "space", "compact", "versatile",
               "natural", "sustainable", "sourced", "tested", "certified", "warranty", "support",
               "customers", "love", "this", "product", "because", "it", "works", "well", "outdoor",
               "indoor", "kitchen", "garden", "café", "naïve", "crème", "protection", "care"};
  Choice ingredients{"water", "sugar", "salt", "whole grain oats", "sunflower oil", "cane sugar",
                     "sea salt", "natural flavors", "citric acid", "cocoa", "almonds", "honey",
                     "rice flour", "pea protein", "vitamin E", "glycerin", "aloe vera",
                     "shea butter", "coconut oil", "green tea extract", "lavender oil",
                     "tocopherol", "vanilla extract", "chia seeds", "dried cranberries"};
};

const Tables& tables() {
  static const Tables t;
  return t;
}

// ---- the generator --------------------------------------------------------------------------

class Generator {
 public:
  explicit Generator(uint64_t seed) : seed_(seed), t_(tables()) {
    for (int f = 0; f < kFieldCount; ++f)  // presence * 2^53: exact in binary floating point
      threshold_[f] = static_cast<uint64_t>(kFields[f].presence * 9007199254740992.0);
  }

  // Writes entity `ordinal` (0-based) as one JSON object. Cheapest for consecutive ordinals.
  void entity(int64_t ordinal, Writer& w) {
    if (ordinal != next_ordinal_ || ordinal % kBlock == 0) {
      rng_.reset(seed_, ordinal / kBlock);
      rapidjson::StringBuffer discard;
      for (int64_t o = ordinal - ordinal % kBlock; o < ordinal; ++o) {
        Writer dw(discard);
        emit(o, dw);
        discard.Clear();
      }
    }
    emit(ordinal, w);
    next_ordinal_ = ordinal + 1;
  }

 private:
  void emit(int64_t ordinal, Writer& w) {
    ordinal_ = ordinal;
    category_ = t_.category_zipf.draw(rng_);
    brand_ = t_.brand_zipf.draw(rng_);
    choose_fields();
    make_name();
    w.StartObject();
    for (int f = 0; f < kFieldCount; ++f) {
      if (!present_[f]) continue;
      w.Key(kFields[f].code.data(), static_cast<rapidjson::SizeType>(kFields[f].code.size()));
      value(static_cast<Field>(f), w);
    }
    w.EndObject();
  }

  // Independent presence draws, then clamped to [kCatalogMinAttributes, kCatalogMaxAttributes]:
  // too few adds the most common missing attributes, too many drops the rarest present ones.
  void choose_fields() {
    for (int f = 0; f < kFieldCount; ++f) present_[f] = rng_.chance(threshold_[f]);
    present_[kSku] = present_[kName] = true;
    int count = static_cast<int>(std::count(present_.begin(), present_.end(), true));
    for (int f = 0; f < kFieldCount && count < kCatalogMinAttributes; ++f) {
      if (!present_[f]) {
        present_[f] = true;
        ++count;
      }
    }
    for (int f = kFieldCount - 1; f > kName && count > kCatalogMaxAttributes; --f) {
      if (present_[f]) {
        present_[f] = false;
        --count;
      }
    }
  }

  void make_name() {
    const Category& c = kCategories[category_];
    name_ = t_.brands[brand_];
    name_ += ' ';
    name_ += t_.adjectives.uniform(rng_);
    name_ += ' ';
    name_ += c.nouns[rng_.below(c.nouns.size())];
    if (rng_.below(2) == 0) {
      const char series = letter();  // separate statements: argument order is unspecified
      fmt::format_to(std::back_inserter(name_), " {}{}", series, rng_.between(100, 999));
    }
  }

  char letter() { return static_cast<char>('A' + rng_.below(26)); }

  void string(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
  void integer(Writer& w, int64_t v) { w.Int64(v); }
  void number(Writer& w, std::string_view digits) {
    w.RawValue(digits.data(), digits.size(), rapidjson::kNumberType);
  }
  // value / 10^scale with exactly `scale` (>= 1) fractional digits: 1999, 2 -> 19.99; 40, 1 -> 4.0.
  void fixed(Writer& w, int64_t value, int scale) {
    int64_t pow = 1;
    for (int i = 0; i < scale; ++i) pow *= 10;
    char buf[48];
    char* end = std::to_chars(buf, buf + 24, value / pow).ptr;
    *end++ = '.';
    int64_t frac = value % pow;
    for (int i = scale - 1; i >= 0; --i, frac /= 10) end[i] = static_cast<char>('0' + frac % 10);
    number(w, {buf, static_cast<size_t>(end + scale - buf)});
  }
  void datetime(Writer& w, int64_t unix_seconds) { string(w, DateTime{unix_seconds * 1000000}.to_iso()); }
  void day(Writer& w, int64_t from, int64_t to) { datetime(w, from + rng_.between(0, (to - from) / kDay - 1) * kDay); }
  void prose(Writer& w, size_t target) {
    t_.words.write(text_, rng_, target);
    string(w, text_);
  }

  void value(Field f, Writer& w) {
    switch (f) {
      case kSku: {
        char buf[32];
        const auto r = fmt::format_to_n(buf, sizeof buf, "SKU-{:08}", ordinal_ + 1);
        return string(w, {buf, r.size});
      }
      case kName: return string(w, name_);
      case kPrice: {
        int64_t cents = t_.price_cents.draw(rng_);
        const uint64_t ending = rng_.below(100);  // retail price endings: .99, .49, .00, other
        if (ending < 60) cents = cents / 100 * 100 + 99;
        else if (ending < 75) cents = cents / 100 * 100 + 49;
        else if (ending < 85) cents = (cents / 100 + 1) * 100;
        return fixed(w, std::max<int64_t>(cents, 99), 2);
      }
      case kCategory: return string(w, kCategories[category_].name);
      case kBrand: return string(w, t_.brands[brand_]);
      case kStock: return integer(w, rng_.below(12) == 0 ? 0 : rng_.skewed(1, 5000));
      case kDescription: return prose(w, static_cast<size_t>(rng_.skewed(200, 1980)));
      case kRating: {  // tenths, 10..50, mode ~4.2 with a long low tail
        int64_t drop = rng_.between(0, 8);
        drop += rng_.between(0, 8);
        if (rng_.below(4) == 0) drop += rng_.between(0, 29);
        return fixed(w, 50 - std::min<int64_t>(drop, 40), 1);
      }
      case kReviewCount: return integer(w, rng_.skewed(0, 25000));
      case kColor: return string(w, t_.colors.draw(rng_));
      case kWeightKg: return fixed(w, std::clamp<int64_t>(t_.weight_grams.draw(rng_), 5, 500000), 3);
      case kReleaseDate: {  // skewed towards recent years: the later of two uniform days
        const int64_t days = (k2026 - k2000) / kDay;
        const int64_t a = rng_.between(0, days - 1), b = rng_.between(0, days - 1);
        return datetime(w, k2000 + std::max(a, b) * kDay);
      }
      case kMaterial: return string(w, t_.materials.draw(rng_));
      case kSize: return string(w, t_.sizes.draw(rng_));
      case kWarrantyMonths: return number(w, t_.warranty_months.draw(rng_));
      case kCountryOfOrigin: return string(w, t_.countries.draw(rng_));
      case kDiscountPct:
        return fixed(w, rng_.below(10) < 7 ? rng_.between(1, 14) * 500 : rng_.between(100, 7000), 2);
      case kWidthCm:
      case kHeightCm:
      case kDepthCm: return fixed(w, rng_.skewed(5, 2500), 1);
      case kLastRestockedAt: return datetime(w, rng_.between(k2023, k2026 - 1));
      case kPackQuantity: return number(w, t_.pack_quantity.draw(rng_));
      case kVoltage: return number(w, t_.voltage.draw(rng_));
      case kWattage: return integer(w, rng_.skewed(1, 3000));
      case kBatteryLifeH: return fixed(w, rng_.skewed(10, 1200), 1);
      case kScreenSizeIn: return number(w, t_.screen_inches.draw(rng_));
      case kModelNumber: {
        char buf[16];
        const char a = letter(), b = letter(), c = letter();
        const auto r = fmt::format_to_n(buf, sizeof buf, "{}{}-{}{}", a, b, rng_.between(1000, 9999), c);
        return string(w, {buf, r.size});
      }
      case kIsbn: {  // ISBN-13 978-G-PPPP-TTTT-C with a valid check digit
        const int64_t group = rng_.between(0, 9), pub = rng_.between(0, 9999), title = rng_.between(0, 9999);
        char digits[13];
        fmt::format_to_n(digits, sizeof digits, "978{}{:04}{:04}", group, pub, title);
        int sum = 0;
        for (int i = 0; i < 12; ++i) sum += (digits[i] - '0') * (i % 2 ? 3 : 1);
        char buf[24];
        const auto r = fmt::format_to_n(buf, sizeof buf, "978-{}-{:04}-{:04}-{}", group, pub, title, (10 - sum % 10) % 10);
        return string(w, {buf, r.size});
      }
      case kAuthor: {
        text_ = t_.first_names.uniform(rng_);
        text_ += ' ';
        text_ += t_.last_names.uniform(rng_);
        return string(w, text_);
      }
      case kPageCount: {
        const int64_t base = rng_.between(48, 96);
        return integer(w, base + rng_.skewed(0, 1100));
      }
      case kPublisher: return string(w, t_.publishers.draw(rng_));
      case kLanguage: return string(w, t_.languages.draw(rng_));
      case kCareInstructions: return prose(w, static_cast<size_t>(rng_.skewed(200, 1000)));
      case kIngredients: {
        const size_t target = static_cast<size_t>(rng_.skewed(200, 800));
        text_ = "Ingredients: ";
        while (text_.size() < target) {
          text_ += t_.ingredients.draw(rng_);
          text_ += ", ";
        }
        text_.resize(text_.size() - 2);
        text_ += '.';
        return string(w, text_);
      }
      case kCalories: return integer(w, rng_.skewed(0, 900));
      case kExpiryDate: return day(w, k2024, k2026);
      case kSpecifications: return prose(w, static_cast<size_t>(rng_.skewed(300, 1980)));
      case kThreadCount: return number(w, t_.thread_count.draw(rng_));
      case kResolution: return string(w, t_.resolutions.draw(rng_));
      case kEnergyRating: return string(w, t_.energy_ratings.draw(rng_));
      case kMaxLoadKg: return fixed(w, rng_.skewed(50, 5000), 1);
      case kDiscontinuedAt: return datetime(w, rng_.between(k2005, k2026 - 1));
      case kFieldCount: break;
    }
  }

  uint64_t seed_;
  const Tables& t_;
  Rng rng_;
  std::array<uint64_t, kFieldCount> threshold_{};
  std::array<bool, kFieldCount> present_{};
  int64_t ordinal_ = 0, next_ordinal_ = -1;
  size_t category_ = 0, brand_ = 0;
  std::string name_, text_;
};

constexpr size_t kFlushBytes = size_t{1} << 20;

void flush(std::ostream& out, rapidjson::StringBuffer& buf, int64_t written) {
  out.write(buf.GetString(), static_cast<std::streamsize>(buf.GetSize()));
  buf.Clear();
  if (!out) throw Error(ErrorCode::kIo, fmt::format("generate_catalog: write failed after {} entities", written));
}

}  // namespace

const std::vector<CatalogAttribute>& catalog_schema() {
  static const std::vector<CatalogAttribute> schema = [] {
    std::vector<CatalogAttribute> s;
    for (const FieldSpec& f : kFields) s.push_back({std::string(f.code), f.type, f.presence});
    return s;
  }();
  return schema;
}

void generate_catalog_range(std::ostream& out, int64_t first, int64_t count, uint64_t seed) {
  if (first < 0 || count < 0 || count > std::numeric_limits<int64_t>::max() - first)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("generate_catalog: invalid entity range (first {}, count {}): need first >= 0, count >= 0",
                            first, count));
  Generator gen(seed);
  rapidjson::StringBuffer buf;
  buf.Reserve(kFlushBytes + 64 * 1024);
  Writer w;
  int64_t flushed = 0;
  for (int64_t i = 0; i < count; ++i) {
    w.Reset(buf);
    gen.entity(first + i, w);
    buf.Put('\n');
    if (buf.GetSize() >= kFlushBytes) {
      flush(out, buf, flushed);
      flushed = i + 1;
    }
  }
  flush(out, buf, flushed);
  out.flush();
  if (!out) throw Error(ErrorCode::kIo, fmt::format("generate_catalog: flushing the output failed after {} entities", count));
}

void generate_catalog(std::ostream& out, int64_t entities, uint64_t seed) {
  if (entities < 0)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("generate_catalog: entities must be >= 0, got {}", entities));
  generate_catalog_range(out, 0, entities, seed);
}

}  // namespace eavdb::batch
