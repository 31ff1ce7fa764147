import ArgumentParser
print("backprop")
