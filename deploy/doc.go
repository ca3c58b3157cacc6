// Package deploy holds crawld's deployment files; its tests check them.
package deploy
