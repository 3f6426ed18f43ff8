package apiserver

import (
	"testing"

	"github.com/moby/moby/api/types/image"

	"github.com/shoal-project/shoal/internal/filters"
)

func TestMatchImage(t *testing.T) {
	tagged := image.Summary{RepoTags: []string{"busybox:latest", "example.com/team/app:1.2"}, Labels: map[string]string{"com.docker.compose.project": "shop"}}
	dangling := image.Summary{}
	tests := []struct {
		name   string
		filter [][2]string
		img    image.Summary
		want   bool
	}{
		{name: "no filter", img: tagged, want: true},
		{name: "dangling=true leaves out a tagged image", filter: [][2]string{{"dangling", "true"}}, img: tagged, want: false},
		{name: "dangling=true keeps an untagged one", filter: [][2]string{{"dangling", "true"}}, img: dangling, want: true},
		{name: "dangling=false leaves out an untagged one", filter: [][2]string{{"dangling", "false"}}, img: dangling, want: false},
		{name: "label with value", filter: [][2]string{{"label", "com.docker.compose.project=shop"}}, img: tagged, want: true},
		{name: "label with another value", filter: [][2]string{{"label", "com.docker.compose.project=web"}}, img: tagged, want: false},
		{name: "label on an image without labels", filter: [][2]string{{"label", "com.docker.compose.project"}}, img: dangling, want: false},
		{name: "reference by familiar name", filter: [][2]string{{"reference", "busybox"}}, img: tagged, want: true},
		{name: "reference with tag", filter: [][2]string{{"reference", "busybox:latest"}}, img: tagged, want: true},
		{name: "reference with another tag", filter: [][2]string{{"reference", "busybox:1.36"}}, img: tagged, want: false},
		{name: "reference glob over a registry name", filter: [][2]string{{"reference", "example.com/*/app:1.*"}}, img: tagged, want: true},
		{name: "reference not matching", filter: [][2]string{{"reference", "alpine"}}, img: tagged, want: false},
		{name: "reference on a dangling image", filter: [][2]string{{"reference", "*"}}, img: dangling, want: false},
		{name: "compose's dangling images of a project", filter: [][2]string{{"label", "com.docker.compose.project=shop"}, {"dangling", "true"}}, img: tagged, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchImage(filters.New(tt.filter...), tt.img); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
