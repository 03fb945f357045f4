package buildpacks

import (
	"testing"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// A typo in a pattern compiled on first use fails here, not on its path.
func TestLazyPatternsCompile(t *testing.T) {
	if err := lazyre.Compiles(envAssignment, pythonProgram, binaryName, semverComparator, plainCommand, npmIntegrity, npmWantedGot, npmExtracting, yarnIntegrity, pnpmIntegrity, pyRequirement, pyEgg, pyNameSeparators, fastAPIApp, flaskApp, flaskFactory, djangoSettings, argName, directiveRe, heredocRe, envNameRE, nextExportOutput, configOutDir, devServerStart, leadingMajor, pnpmVersion, webpackDevStart, webpackOutputPath, svelteAdapter, fastifyStart, ngServeStart, nestStart, fastifyAddress, goPackageClause, goImportPathRE, goMajorSuffix, herokuInstall, glidePackage, processType); err != nil {
		t.Fatal(err)
	}
}
