# Thin front for the two commands of the README:
#   make train   install, build, fetch ml-latest-small, train 5 epochs
#   make test    install, build, fetch ml-latest-small, run the whole test suite
#   make sanitize the same suite built with AddressSanitizer + UBSan (CI runs both)
#   make test-cpu-paths  the kernel-dependent tests again under each ATEN_CPU_CAPABILITY
BUILD ?= build
SANITIZE_BUILD ?= build-sanitize
EPOCHS ?= 5
JOBS ?= $(shell nproc)

.PHONY: all deps build data train test test-cpu-paths sanitize clean format

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

data:
	bash scripts/fetch-movielens.sh ml-latest-small

train: build data
	$(BUILD)/dnnrec train --epochs $(EPOCHS)

test: build data
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The tests labelled "kernels" once more under each libtorch CPU capability the CPU has
# (default, avx2, avx512): every instruction-set path of libtorch's kernels and of ours.
test-cpu-paths: build data
	bash scripts/test-cpu-paths.sh $(BUILD)

# Every sanitizer report is fatal (-fno-sanitize-recover=all), leaks included, so a report
# fails its test. SANITIZE_SKIP leaves out tests whose code paths kept tests already run
# sanitized: variants of process-orchestration tests (kill, signal and sweep scenarios); the
# MovieLens-size trainings of the rankers (their models run in the planted-groups tests,
# Rankers.*, their run loop in Resume.RankingRun... and RankingRun.LearningRate...); and the
# trainings of every MovieLens layout and of the csv log (the tests that only parse stay, and
# the profile field runs sanitized in Features.TheProfileColumn... and Rankers.Descriptions...);
# and the export of every model (its code runs sanitized in Export.TheRepository... and
# Export.Refuses...).
# Together about 7 of the suite's 16 sanitized minutes. `make test` runs them all; SANITIZE_SKIP= runs everything.
SANITIZE_SKIP ?= ^(Distributed\.(AnInterruptedGroup|AKilledRank|WorldSizeOne)|Sweep\.(EverySubcommandsJson|SigkillPartway|EvaluateTakes|TheExampleShellLoop)|Resume\.(SigintMidEpoch|SigkillBetweenEpochs)|Plots\.|RankingRun\.(FeatureModels|TrainedRankersBeat)|MovieLensFormats\.(EveryLayoutLoads|GroupLensFolders|UserFeaturesHelp|TheCtrConfig)|EventLog\.(TheSameRatings|TheShopSample)|Export\.(EveryRatingModel|EveryRankingModel|FaissOver))
sanitize: deps data
	cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DDNNREC_SANITIZE=ON
	cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	cd $(SANITIZE_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) $(if $(SANITIZE_SKIP),-E '$(SANITIZE_SKIP)')

format:
	clang-format -i src/*.cc src/*/*.cc src/*/*.h src/*.h include/dnnrec/*.h tests/*.cc tests/*/*.cc tests/*.h fuzz/*.cc

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD)
