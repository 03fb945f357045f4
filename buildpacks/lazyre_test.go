package buildpacks

import (
	"regexp"
	"testing"
)

// The patterns compiled on first use (lazyre) compile: a typo in one must
// fail here, not on the rare path that first needs it.
func TestLazyPatternsCompile(t *testing.T) {
	for _, re := range []func() *regexp.Regexp{
		envAssignment,
		pythonProgram,
		binaryName,
		semverComparator,
		plainCommand,
		npmIntegrity,
		npmWantedGot,
		npmExtracting,
		yarnIntegrity,
		pnpmIntegrity,
		pyRequirement,
		pyEgg,
		pyNameSeparators,
		fastAPIApp,
		flaskApp,
		flaskFactory,
		djangoSettings,
		argName,
		directiveRe,
		heredocRe,
		envNameRE,
		nextExportOutput,
		configOutDir,
		devServerStart,
		leadingMajor,
		pnpmVersion,
		webpackDevStart,
		webpackOutputPath,
		svelteAdapter,
		fastifyStart,
		ngServeStart,
		nestStart,
		fastifyAddress,
		goPackageClause,
		goImportPathRE,
		goMajorSuffix,
		herokuInstall,
		glidePackage,
		processType,
	} {
		if re() == nil {
			t.Fatal("nil regexp")
		}
	}
}
