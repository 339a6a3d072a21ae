package console

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// The review loop in a browser, as an operator does it: sign in, open the job that ended
// partially succeeded, filter its errors, fix two rows inline, set one aside, fix F&O's
// other rejections in bulk over a filter, resubmit, and watch the job end succeeded; F&O
// then holds the fixed rows, once each. A screenshot of each step is saved in the test's
// artifact folder (go test -artifacts keeps them, under -outputdir).
func TestBrowserReviewLoop(t *testing.T) {
	t.Parallel()
	chromium := testsvc.Chromium(t)
	b := setup(t, testOpts{})
	job := b.partialJob(t, "customers_browser.csv")

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1440, 1000), chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	defer cancelTimeout()
	// A step that waits for what never comes fails within 30 s (a loaded machine is slow), with a screenshot.
	stepTimeout := func(steps ...chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(c context.Context, tg *chromedp.Target) error {
			c, cancel := context.WithTimeout(c, 30*time.Second)
			defer cancel()
			_, err := chromedp.Steps(steps...)(c, tg)
			return err
		})
	}

	shots := t.ArtifactDir()
	step := 0
	shot := func(name string) {
		t.Helper()
		step++
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err, "screenshot %s", name)
		require.NoError(t, os.WriteFile(filepath.Join(shots, fmt.Sprintf("%02d-%s.png", step, name)), png, 0o644))
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		defer func(start time.Time) { t.Logf("%s: %s", what, time.Since(start).Round(time.Millisecond)) }(time.Now())
		if err := chromedp.Do(ctx, stepTimeout(steps...)); err != nil {
			if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
				_ = os.WriteFile(filepath.Join(shots, "failed.png"), png, 0o644)
			}
			require.NoError(t, err, what)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, "text of %s", sel)
		return s
	}
	// follow clicks sel and waits for the page it leads to to load, so that what comes next
	// is looked for on the new page, never on the old one.
	follow := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(c context.Context, tg *chromedp.Target) error {
			_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))(c, tg)
			return err
		})
	}
	// flash clicks sel and waits for the next page's message to say want.
	flash := func(sel, want string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(c context.Context, tg *chromedp.Target) error {
			if _, err := follow(sel)(c, tg); err != nil {
				return err
			}
			got, err := chromedp.Text(chromedp.CSS(".flash"))(c, tg)
			if err == nil && !strings.Contains(got, want) {
				err = fmt.Errorf("the page says %q, not %q", got, want)
			}
			return err
		})
	}
	u := b.srv.URL

	do("sign in",
		chromedp.Navigate(u+fmt.Sprintf("/jobs/%d", job)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "otto"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testPassword),
	)
	shot("login")
	do("open the job", follow(`.login button`), chromedp.WaitVisible(chromedp.CSS(`.actions .primary`)))
	assert.Contains(t, text(".summary"), "partially succeeded")
	shot("job")

	do("open its errors", follow(`.actions a.primary`), chromedp.WaitVisible(chromedp.CSS(`.groups`)))
	assert.Contains(t, text(".summary"), "8 of 300 rows wait")
	shot("review")

	// The group of rows our rules found without a customer group: filter, fix inline.
	do("filter on a group",
		follow(`.groups a[href*="field=CUSTOMERGROUPID"][href*="rule=required"]`),
		chromedp.WaitVisible(chromedp.CSS(`.chip`)),
		chromedp.WaitVisible(chromedp.ID("row-20")),
	)
	assert.Contains(t, text(".matches"), "1 row matches")
	shot("filtered")
	do("edit row 20",
		chromedp.Click(chromedp.CSS(`#row-20 .act button`)),
		chromedp.WaitVisible(chromedp.CSS(`#row-20 input[name="v.CUSTOMERGROUPID"]`)),
	)
	shot("edit-row-20")
	do("save row 20",
		chromedp.SendKeys(chromedp.CSS(`#row-20 input[name="v.CUSTOMERGROUPID"]`), "10"),
		chromedp.Click(chromedp.CSS(`#row-20 .rowedit button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#row-20 .s-fixed`)),
	)
	shot("row-20-fixed")

	// The repeated account: search for it, fix it inline.
	do("search for the repeat",
		chromedp.Navigate(u+fmt.Sprintf("/jobs/%d/errors", job)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="q"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "c000029"),
		follow(`form.filters button`),
		chromedp.WaitVisible(chromedp.ID("row-30")),
		chromedp.Click(chromedp.CSS(`#row-30 .act button`)),
		chromedp.WaitVisible(chromedp.CSS(`#row-30 input[name="v.CUSTOMERACCOUNT"]`)),
		chromedp.SetValue(chromedp.CSS(`#row-30 input[name="v.CUSTOMERACCOUNT"]`), "C000030"),
		chromedp.Click(chromedp.CSS(`#row-30 .rowedit button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#row-30 .s-fixed`)),
	)
	shot("row-30-fixed")

	// F&O's rejections: set one aside, fix the others over the filter.
	do("set row 57 aside",
		chromedp.Navigate(u+fmt.Sprintf("/jobs/%d/errors?rule=fo", job)),
		chromedp.WaitVisible(chromedp.ID("row-57")),
		chromedp.Click(chromedp.CSS(`#row-57 .act button`)),
		chromedp.WaitVisible(chromedp.CSS(`#row-57 .rowreject input[name="reason"]`)),
		chromedp.SendKeys(chromedp.CSS(`#row-57 .rowreject input[name="reason"]`), "the customer left"),
	)
	shot("reject-row-57")
	do("confirm", flash(`#row-57 .rowreject button`, "Row 57 set aside"))
	assert.Contains(t, text(".matches"), "5 rows match")
	do("bulk-fix the group over the filter",
		chromedp.Click(chromedp.CSS(`#bulk input[name="scope"][value="filter"]`)),
		chromedp.SetValue(chromedp.CSS(`#bulk select[name="field"]`), "CUSTOMERGROUPID"),
		chromedp.SendKeys(chromedp.CSS(`#bulk input[name="value"]`), "30"),
	)
	shot("bulk-form")
	do("set", flash(`#bulk button[value="edit"]`, "5 rows edited"))
	shot("bulk-done")

	do("resubmit", flash(`#resubmit`, "sends 7 fixed rows"))
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector(".summary .status").textContent === "succeeded"`,
		chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(200*time.Millisecond)))
	require.NoError(t, err, "the job page shows the job succeeded")
	shot("succeeded")
	do("the job list", chromedp.Navigate(u+"/jobs"), chromedp.WaitVisible(chromedp.CSS("table.list")))
	shot("jobs")
	do("the projects", chromedp.Navigate(u+"/projects"), chromedp.WaitVisible(chromedp.CSS("table.list")))
	shot("projects")
	do("a row in full", chromedp.Navigate(u+fmt.Sprintf("/jobs/%d/rows/57", job)), chromedp.WaitVisible(chromedp.CSS("h1")))
	shot("row-57")

	s := b.waitJob(t, job)
	require.Equal(t, jobhistory.JobSucceeded, s.Status, s.Error)
	rows := b.em.Rows(testEntity, testLE)
	byAccount := map[string]map[string]string{}
	for _, r := range rows {
		_, twice := byAccount[r["CUSTOMERACCOUNT"]]
		assert.False(t, twice, "%s is in F&O twice", r["CUSTOMERACCOUNT"])
		byAccount[r["CUSTOMERACCOUNT"]] = r
	}
	assert.Len(t, byAccount, 299, "every row but the one set aside")
	assert.Equal(t, "10", byAccount["C000020"]["CUSTOMERGROUPID"])
	assert.Contains(t, byAccount, "C000030")
	for _, n := range []int{7, 107, 157, 207, 257} {
		assert.Equal(t, "30", byAccount[fmt.Sprintf("C%06d", n)]["CUSTOMERGROUPID"], "row %d fixed in bulk", n)
	}
	assert.NotContains(t, byAccount, "C000057")
	assert.Zero(t, b.em.Stats().Updates, "no row reached F&O twice")

	entries, err := jobhistory.NewAudit(b.pool).JobEntries(t.Context(), job, 0, 10)
	require.NoError(t, err)
	var who []string
	for _, e := range entries {
		who = append(who, e.Actor+" "+e.Action)
	}
	assert.Equal(t, []string{"otto resubmit", "otto edit", "otto reject", "otto edit", "otto edit"}, who)
	t.Logf("screenshots in %s", shots)
}
