"""The serving image build files, shipped inside the package for `wasync build`."""
