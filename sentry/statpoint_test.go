package sentry

import (
	"encoding/json"
	"testing"
)

// decodeSlow is how a point was read before the direct path: through
// encoding/json into two floats.
func decodeSlow(b []byte) (StatPoint, error) {
	var pair [2]float64
	if err := json.Unmarshal(b, &pair); err != nil {
		return StatPoint{}, err
	}
	return StatPoint{Time: int64(pair[0]), Count: int64(pair[1])}, nil
}

func TestStatPointDecoding(t *testing.T) {
	tests := []struct {
		in      string
		want    StatPoint
		wantErr bool
	}{
		{in: `[1541451600,557]`, want: StatPoint{1541451600, 557}},
		{in: ` [ 1541451600 , 0 ] `, want: StatPoint{1541451600, 0}},
		{in: "[\n1,\t2\r]", want: StatPoint{1, 2}},
		{in: `[-5,3]`, want: StatPoint{-5, 3}},
		// Not two plain integers: encoding/json decides.
		{in: `[1541451600.0,557.9]`, want: StatPoint{1541451600, 557}},
		{in: `[1e3,2]`, want: StatPoint{1000, 2}},
		{in: `[1,2,3]`, want: StatPoint{1, 2}},
		{in: `[7]`, want: StatPoint{7, 0}},
		{in: `[null,4]`, want: StatPoint{0, 4}},
		{in: `null`, want: StatPoint{}},
		{in: `[01,2]`, wantErr: true},
		{in: `[1,]`, wantErr: true},
		{in: `[1 2]`, wantErr: true},
		{in: `["1",2]`, wantErr: true},
		{in: `{}`, wantErr: true},
		{in: `[`, wantErr: true},
	}
	for _, tt := range tests {
		var p StatPoint
		err := p.UnmarshalJSON([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("UnmarshalJSON(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && p != tt.want {
			t.Errorf("UnmarshalJSON(%q) = %+v, want %+v", tt.in, p, tt.want)
		}
	}
}

// TestStatPointInStats decodes a whole series the way an issue carries it.
func TestStatPointInStats(t *testing.T) {
	var s Stats
	if err := json.Unmarshal([]byte(`{"24h":[[1,2],[3, 4]],"30d":[[5.5,6]]}`), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Day) != 2 || s.Day[1] != (StatPoint{3, 4}) || len(s.Month) != 1 || s.Month[0] != (StatPoint{5, 6}) {
		t.Fatalf("stats = %+v", s)
	}
}

// FuzzStatPoint checks the direct path against encoding/json: both accept
// and refuse the same inputs, and agree on every value a float64 holds
// exactly.
func FuzzStatPoint(f *testing.F) {
	for _, seed := range []string{`[1541451600,557]`, `[ -1 , 0 ]`, `[1.5,2]`, `[00,1]`, `[1,2`, `null`, `[9007199254740993,1]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast StatPoint
		errFast := fast.UnmarshalJSON(b)
		slow, errSlow := decodeSlow(b)
		if (errFast != nil) != (errSlow != nil) {
			t.Fatalf("%q: direct error %v, encoding/json error %v", b, errFast, errSlow)
		}
		exact := func(v int64) bool { return v > -(1<<53) && v < 1<<53 }
		if errFast == nil && exact(fast.Time) && exact(fast.Count) && exact(slow.Time) && exact(slow.Count) && fast != slow {
			t.Fatalf("%q: direct %+v, encoding/json %+v", b, fast, slow)
		}
	})
}
