package controlapi

import (
	"fmt"
	"math/rand/v2"
)

// A service created without a name gets one like Docker's generated
// names: an adjective and the surname of a scientist or engineer.
var (
	nameAdjectives = []string{
		"admiring", "agitated", "amazing", "awesome", "blissful", "bold", "brave", "busy",
		"charming", "clever", "compassionate", "confident", "cool", "dazzling", "determined",
		"eager", "ecstatic", "elastic", "elegant", "epic", "fervent", "festive", "focused",
		"friendly", "gallant", "gifted", "goofy", "gracious", "happy", "hopeful", "inspiring",
		"jolly", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "nifty",
		"nostalgic", "optimistic", "peaceful", "pensive", "practical", "quirky", "relaxed",
		"serene", "sharp", "stoic", "sweet", "tender", "trusting", "upbeat", "vibrant",
		"vigilant", "wizardly", "wonderful", "youthful", "zealous",
	}
	nameSurnames = []string{
		"agnesi", "babbage", "bardeen", "bell", "bohr", "boole", "cerf", "clarke", "curie",
		"darwin", "dijkstra", "einstein", "euler", "fermat", "fermi", "feynman", "franklin",
		"galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking", "hopper", "hypatia",
		"johnson", "kepler", "knuth", "lamport", "lovelace", "maxwell", "mccarthy", "meitner",
		"mendel", "morse", "newton", "noether", "pascal", "pasteur", "perlman", "poincare",
		"ramanujan", "ritchie", "sammet", "shannon", "sinoussi", "tesla", "thompson",
		"torvalds", "turing", "volhard", "wilson", "wozniak", "wright", "yonath",
	}
)

// freeName returns a generated name for which taken is false.
func freeName(taken func(string) bool) string {
	for i := 0; ; i++ {
		name := nameAdjectives[rand.IntN(len(nameAdjectives))] + "_" + nameSurnames[rand.IntN(len(nameSurnames))]
		if i > 10 {
			// Crowded: a number makes a free one certain to turn up.
			name += fmt.Sprint(rand.IntN(100))
		}
		if !taken(name) {
			return name
		}
	}
}
