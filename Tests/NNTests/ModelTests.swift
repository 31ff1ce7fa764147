import NN
import Testing

@Suite("The shipped models")
struct ModelTests {
    @Test func seedModelsHaveThePublishedParameterCounts() {
        #expect(Models.seedERAv2.makeModel().parameterCount == 19_822)
        #expect(Models.seedERAv1.makeModel().parameterCount == 19_568)
    }

    @Test(arguments: Models.all.map(\.name))
    func everyModelBuildsAndEndsInTenClasses(name: String) throws {
        let model = try #require(Models.named(name)).makeModel()
        #expect(model.outputShape == [10])
        #expect(model.parameterCount < 20_000)
    }

    @Test func courseModelsStayUnderTheirBudgets() {
        #expect(Models.s6.makeModel().parameterCount < 20_000)
        #expect(Models.s7.makeModel().parameterCount < 8_000)
        #expect(Models.s5k.makeModel().parameterCount < 5_000)
    }

    @Test func seedERAv1ParameterNamesMatchItsPyTorchStateDict() {
        let names = Models.seedERAv1.makeModel().parameters.map(\.name)
        #expect(names.first == "conv1.0.weight")
        #expect(names.contains("trans2.2.weight"))   // its BatchNorm comes after the ReLU
        #expect(names.last == "conv3.0.weight")
        let buffers = Models.seedERAv1.makeModel().buffers.map(\.name)
        #expect(buffers.contains("conv1.1.running_mean"))
        #expect(buffers.contains("conv1.1.num_batches_tracked"))
    }

    @Test func summaryReportsReceptiveFieldsAndTotals() {
        let summary = ModelSummary(model: Models.seedERAv2.makeModel())
        #expect(summary.totalParameters == 19_822)
        // 3×3 convs with padding: RF 3, 5, pool → 6 (jump 2), 3×3 → 10, 14, pool → 16 (jump 4), 24, 32.
        let fields = summary.rows.filter { $0.layer.hasPrefix("Conv2d") || $0.layer.hasPrefix("MaxPool") }
            .map(\.receptiveField)
        #expect(fields == [3, 5, 6, 10, 14, 16, 24, 32])
        let text = summary.render(batchSize: 128)
        #expect(text.contains("Total params: 19,822"))
    }

    @Test func shapeMistakesAreFoundBeforeTraining() {
        #expect(throws: ModelError.self) {
            try Model(name: "bad", network: Sequential(Conv2d(3, 4, kernelSize: 3)))  // expects 3 channels, gets 1
        }
        #expect(throws: ModelError.self) {
            try Model(name: "bad", network: Sequential(Conv2d(1, 4, kernelSize: 29)))  // bigger than the image
        }
    }
}

@Suite("Optimisers and schedules follow PyTorch's formulas")
struct OptimizerTests {
    @Test func sgdWithMomentumAndNesterov() {
        let p = Parameter(shape: [1])
        p.value[0] = 1
        let sgd = SGD(parameters: [p], learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01)
        p.gradient[0] = 0.5
        sgd.step()
        // d = 0.5 + 0.01·1 = 0.51; v = 0.51; nesterov d = 0.51 + 0.9·0.51 = 0.969; w = 1 − 0.0969
        #expect(abs(p.value[0] - 0.9031) < 1e-6)
        p.gradient[0] = 0.5
        sgd.step()
        // d = 0.5 + 0.01·0.9031 = 0.509031; v = 0.9·0.51 + 0.509031 = 0.968031; d = 0.509031 + 0.9·0.968031
        let expected: Float = 0.9031 - 0.1 * (0.509031 + 0.9 * 0.968031)
        #expect(abs(p.value[0] - expected) < 1e-6)
    }

    @Test func adamFirstStepMovesByTheLearningRate() {
        let p = Parameter(shape: [2])
        let adam = Adam(parameters: [p], learningRate: 0.01)
        p.gradient[0] = 3; p.gradient[1] = -0.2
        adam.step()
        #expect(abs(p.value[0] + 0.01) < 1e-5)
        #expect(abs(p.value[1] - 0.01) < 1e-5)
    }

    @Test func oneCycleStartsLowPeaksAndEndsLower() {
        let schedule = Schedule.oneCycle(maxLearningRate: 0.1)
        let total = 100
        let first = schedule.values(baseLearningRate: 0, step: 0, epoch: 0, totalSteps: total)
        #expect(abs(first.learningRate - 0.004) < 1e-7)        // max_lr / 25
        #expect(abs((first.momentum ?? 0) - 0.95) < 1e-6)
        let peak = schedule.values(baseLearningRate: 0, step: 29, epoch: 0, totalSteps: total)
        #expect(abs(peak.learningRate - 0.1) < 1e-6)
        #expect(abs((peak.momentum ?? 0) - 0.85) < 1e-6)
        let last = schedule.values(baseLearningRate: 0, step: 99, epoch: 0, totalSteps: total)
        #expect(abs(last.learningRate - 4e-7) < 1e-9)          // initial / 1e4
    }

    @Test func stepLR() {
        let schedule = Schedule.step(stepSize: 6, gamma: 0.3)
        #expect(schedule.values(baseLearningRate: 0.01, step: 0, epoch: 5, totalSteps: 1).learningRate == 0.01)
        #expect(abs(schedule.values(baseLearningRate: 0.01, step: 0, epoch: 6, totalSteps: 1).learningRate - 0.003) < 1e-8)
    }
}
