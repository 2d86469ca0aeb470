package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// Skills (§3.8): multipart uploads (parts "files" / "files[]" — one zip, a folder's files
// with their relative paths as filenames, or a lone SKILL.md — and "display_title" /
// "display_name"). Each version's content is validated and packed by hangar.PackSkill and
// stored in Config.Blobs as a zip under the version ID; the content route serves that zip.

// skillFormOverhead bounds the non-file parts and multipart framing of an upload.
const skillFormOverhead = 1 << 20

// skillWire is a Skill on the wire: the SDK's fields plus display_title (the older name of
// display_name) and latest_version, which Anthropic's reference also documents.
type skillWire struct {
	*hangar.Skill
	DisplayTitle string `json:"display_title"`
}

func skillResponse(sk *hangar.Skill) skillWire {
	out := *sk
	out.Type = "skill"
	return skillWire{Skill: &out, DisplayTitle: out.DisplayName}
}

func skillVersionResponse(v *hangar.SkillVersion) *hangar.SkillVersion {
	out := *v
	out.Type = "skill_version"
	return &out
}

// readSkillUpload reads the multipart body of a skill or version upload.
func (s *Server) readSkillUpload(w http.ResponseWriter, r *http.Request) (files []hangar.SkillFile, title string, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, hangar.MaxSkillBytes+skillFormOverhead)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, "", invalidf("request must be multipart/form-data with \"files[]\" parts")
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", multipartError(err)
		}
		name := part.FormName()
		switch {
		case name == "files" || name == "files[]" || strings.HasPrefix(name, "files["):
			b, err := io.ReadAll(part)
			if err != nil {
				return nil, "", multipartError(err)
			}
			// Part.FileName drops the directories, which are the point here.
			_, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			fn := params["filename"]
			if fn == "" {
				return nil, "", invalidf("files: every part must carry a filename")
			}
			files = append(files, hangar.SkillFile{Path: fn, Data: b})
		case name == "display_title" || name == "display_name":
			b, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				return nil, "", multipartError(err)
			}
			title = strings.TrimSpace(string(b))
		}
	}
	return files, title, nil
}

// newSkillVersion validates files, stores their zip in the blob store and returns the
// version (not yet in the store; the caller deletes the blob if storing it fails).
func (s *Server) newSkillVersion(ctx context.Context, skillID string, files []hangar.SkillFile) (*hangar.SkillVersion, error) {
	if s.cfg.Blobs == nil {
		return nil, hangar.Errorf(hangar.KindInternal, "file storage is not configured")
	}
	zipped, meta, err := hangar.PackSkill(files)
	if err != nil {
		return nil, err
	}
	now := s.now()
	v := &hangar.SkillVersion{
		Type: "skill_version", ID: s.newID(hangar.PrefixSkillVersion), SkillID: skillID,
		Version: strconv.FormatInt(now.UnixMicro(), 10), Name: meta.Name, Description: meta.Description,
		Directory: meta.Directory, CreatedAt: now,
	}
	if v.SizeBytes, v.SHA256, err = s.cfg.Blobs.Put(ctx, v.ID, bytes.NewReader(zipped)); err != nil {
		return nil, fmt.Errorf("store skill version %s: %w", v.ID, err)
	}
	return v, nil
}

func (s *Server) createSkill(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	files, title, err := s.readSkillUpload(w, r)
	if err != nil {
		return err
	}
	sk := &hangar.Skill{Type: "skill", ID: s.newID(hangar.PrefixSkill), Source: hangar.SkillSource{Type: "custom"}}
	v, err := s.newSkillVersion(ctx, sk.ID, files)
	if err != nil {
		return err
	}
	sk.DisplayName, sk.CreatedAt, sk.UpdatedAt = title, v.CreatedAt, v.CreatedAt
	if sk.DisplayName == "" {
		sk.DisplayName = v.Name
	}
	if err := s.store.CreateSkill(ctx, sk, v); err != nil {
		s.deleteBlob(ctx, v.ID)
		return err
	}
	encode(w, http.StatusOK, skillResponse(sk))
	return nil
}

func (s *Server) listSkills(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
	if err != nil {
		return err
	}
	f := hangar.SkillFilter{Source: q.Get("source"), Page: page}
	switch f.Source {
	case "", "custom":
	case "anthropic":
		// Anthropic's prebuilt skills (xlsx, docx...) are not served by Hangar: none to list.
	default:
		return invalidf("source: must be one of custom, anthropic (got %q)", f.Source)
	}
	var data []skillWire
	sks, pr, err := s.store.ListSkills(r.Context(), f)
	if err != nil {
		return err
	}
	for _, sk := range sks {
		data = append(data, skillResponse(sk))
	}
	if data == nil {
		data = []skillWire{}
	}
	encode(w, http.StatusOK, struct {
		listEnvelope[skillWire]
		HasMore bool `json:"has_more"`
	}{listEnvelope[skillWire]{Data: data, NextPage: strOrNil(pr.Next)}, pr.Next != ""})
	return nil
}

func (s *Server) getSkill(w http.ResponseWriter, r *http.Request) error {
	sk, err := s.store.GetSkill(r.Context(), pathID(r, "skill_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, skillResponse(sk))
	return nil
}

func (s *Server) deleteSkill(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r, "skill_id")
	if err := s.store.DeleteSkill(r.Context(), id); err != nil {
		return err
	}
	encode(w, http.StatusOK, deletedObject{ID: id, Type: "skill_deleted"})
	return nil
}

func (s *Server) createSkillVersion(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := pathID(r, "skill_id")
	if _, err := s.store.GetSkill(ctx, id); err != nil {
		return err
	}
	files, _, err := s.readSkillUpload(w, r)
	if err != nil {
		return err
	}
	v, err := s.newSkillVersion(ctx, id, files)
	if err != nil {
		return err
	}
	if _, err := s.store.CreateSkillVersion(ctx, v); err != nil {
		s.deleteBlob(ctx, v.ID)
		return err
	}
	encode(w, http.StatusOK, skillVersionResponse(v))
	return nil
}

func (s *Server) listSkillVersions(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r.URL.Query(), 20, 100, true)
	if err != nil {
		return err
	}
	vs, pr, err := s.store.ListSkillVersions(r.Context(), pathID(r, "skill_id"), page)
	if err != nil {
		return err
	}
	data := make([]*hangar.SkillVersion, len(vs))
	for i, v := range vs {
		data[i] = skillVersionResponse(v)
	}
	encode(w, http.StatusOK, struct {
		listEnvelope[*hangar.SkillVersion]
		HasMore bool `json:"has_more"`
	}{listEnvelope[*hangar.SkillVersion]{Data: data, NextPage: strOrNil(pr.Next)}, pr.Next != ""})
	return nil
}

func (s *Server) getSkillVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := s.store.GetSkillVersion(r.Context(), pathID(r, "skill_id"), pathID(r, "version"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, skillVersionResponse(v))
	return nil
}

func (s *Server) deleteSkillVersion(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	v, err := s.store.DeleteSkillVersion(ctx, pathID(r, "skill_id"), pathID(r, "version"))
	if err != nil {
		return err
	}
	s.deleteBlob(ctx, v.ID)
	encode(w, http.StatusOK, deletedObject{ID: v.ID, Type: "skill_version_deleted"})
	return nil
}

// downloadSkillVersion serves the version's content: the zip of its folder.
func (s *Server) downloadSkillVersion(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	v, err := s.store.GetSkillVersion(ctx, pathID(r, "skill_id"), pathID(r, "version"))
	if err != nil {
		return err
	}
	if s.cfg.Blobs == nil {
		return hangar.Errorf(hangar.KindInternal, "file storage is not configured")
	}
	rc, err := s.cfg.Blobs.Open(ctx, v.ID)
	if err != nil {
		return fmt.Errorf("open skill version %s: %w", v.ID, err)
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", v.Directory+".zip"))
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", v.CreatedAt.Truncate(time.Second), rs)
		return nil
	}
	h.Set("Content-Length", strconv.FormatInt(v.SizeBytes, 10))
	w.WriteHeader(http.StatusOK)
	io.Copy(w, rc)
	return nil
}
